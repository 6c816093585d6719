from __future__ import annotations

import time

import pytest

from booktape.model import BOOK_TYPE_BUY, BOOK_TYPE_SELL
from booktape.sources.simulated import SimConfig, SimMarket, book_at, books_at


def test_sim_book_has_mt5_shape_sells_first_prices_descending():
    m = SimMarket(SimConfig(levels=20))
    for _ in range(200):
        book = m.market_book_get("RIU2")
        types = [lvl.type for lvl in book]
        assert types == sorted(types)  # sells (1) then buys (2)
        assert set(types) <= {BOOK_TYPE_SELL, BOOK_TYPE_BUY}
        prices = [lvl[1] for lvl in book]
        assert prices == sorted(prices, reverse=True)
        assert all(p % 10 == 0 for p in prices)
        assert all(lvl.volume > 0 and lvl.volume_dbl == float(lvl.volume) for lvl in book)
        asks = [lvl.price for lvl in book if lvl.type == BOOK_TYPE_SELL]
        bids = [lvl.price for lvl in book if lvl.type == BOOK_TYPE_BUY]
        assert min(asks) > max(bids)
        assert 95_000 < min(asks) < 117_000
        assert len(book) <= 40


def test_sim_book_level_count_varies_because_empty_levels_are_absent():
    cfg = SimConfig(lockstep=True, seed=3)
    counts = {len(b) for b in books_at(cfg, "RIU2", list(range(0, 5000, 50)))}
    assert len(counts) > 1 and max(counts) == 40


def test_sim_lockstep_same_seed_same_states_whatever_the_timing():
    cfg = SimConfig(lockstep=True, seed=7)
    a, b = SimMarket(cfg), SimMarket(cfg)
    out_a = [a.market_book_get("RIU2") for _ in range(500)]
    out_b = []
    for i in range(500):
        if i % 50 == 0:
            time.sleep(0.01)
        out_b.append(b.market_book_get("RIU2"))
    assert out_a == out_b
    c = SimMarket(SimConfig(lockstep=True, seed=8))
    assert [c.market_book_get("RIU2") for _ in range(5)] != out_a[:5]


def test_sim_lockstep_has_unchanged_calls_and_changes():
    m = SimMarket(SimConfig(lockstep=True, unchanged_prob=0.3), log=True)
    books = [m.market_book_get("X") for _ in range(1000)]
    same = sum(1 for x, y in zip(books, books[1:]) if x == y)
    assert 200 < same < 400  # ~30 % of calls see no change
    assert m.log is not None and len(m.log["X"]) == 1000


def test_sim_log_replays_to_the_served_books():
    cfg = SimConfig(seed=5)  # realtime
    m = SimMarket(cfg, log=True)
    served = []
    t_end = time.perf_counter() + 0.3
    while time.perf_counter() < t_end:
        served.append(m.market_book_get("RIU2"))
    assert m.log is not None
    assert books_at(cfg, "RIU2", m.log["RIU2"]) == served
    assert book_at(cfg, "RIU2", m.log["RIU2"][-1]) == served[-1]


def test_sim_realtime_rate_is_near_configured():
    m = SimMarket(SimConfig(rate=2000, burst_prob=0))
    m.market_book_get("R")
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.5:
        m.market_book_get("R")
    ev = m.books["R"].events
    assert 600 < ev < 1500  # ~1000 expected in 0.5 s


def test_sim_latency_is_emulated():
    m = SimMarket(SimConfig(latency_ns=200_000))
    t0 = time.perf_counter_ns()
    for _ in range(20):
        m.market_book_get("R")
    assert (time.perf_counter_ns() - t0) / 20 >= 200_000


def test_sim_symbols_are_independent_and_seeded():
    cfg = SimConfig(lockstep=True)
    a = SimMarket(cfg)
    assert a.market_book_get("A") != a.market_book_get("B")


def test_sim_config_rejects_bad_values():
    with pytest.raises(ValueError):
        SimConfig(levels=0)
    with pytest.raises(ValueError):
        SimConfig(rate=-1)
