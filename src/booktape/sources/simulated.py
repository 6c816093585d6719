"""The built-in simulated market: an RTS-like limit-order book with bursts.

Deterministic for a seed. Event *content* (which level changes, by how much)
comes from its own random stream, independent of timing, so the n-th state of
a symbol is the same whether the market runs against the wall clock
(``realtime``) or advances a seeded number of events per call (``lockstep``).
That is what lets tests prove what a recording served and missed.
"""

from __future__ import annotations

import random
import time
import zlib
from dataclasses import dataclass

from .. import clock as _clock
from ..model import BOOK_TYPE_BUY, BOOK_TYPE_SELL, Book, BookInfo


@dataclass(frozen=True, kw_only=True)
class SimConfig:
    """Knobs of the simulated market; defaults are an RTS future at a calm hour."""

    seed: int = 1
    levels: int = 20
    tick: float = 10.0
    mid: float = 106_000.0
    rate: float = 300.0
    burst_prob: float = 0.002
    burst_factor: float = 8.0
    burst_events: int = 300
    latency_ns: int = 0
    lockstep: bool = False
    unchanged_prob: float = 0.3
    max_events_per_call: int = 3
    # Wall-clock ns at which the realtime event schedule starts. Recorders in
    # different processes given the same seed and anchor serve the same state at
    # the same wall time: one shared market, as several collectors polling one
    # terminal see (redundant collectors, `booktape merge`). None: the schedule
    # starts at this book's first call, so each process runs its own market.
    anchor_ns: int | None = None

    def __post_init__(self) -> None:
        if self.levels < 1 or self.levels > 500:
            raise ValueError(f"levels must be 1..500, got {self.levels}")
        if self.rate <= 0:
            raise ValueError(f"rate must be > 0, got {self.rate}")
        if not 0 <= self.unchanged_prob < 1:
            raise ValueError(f"unchanged_prob must be in [0, 1), got {self.unchanged_prob}")
        if self.latency_ns < 0:
            raise ValueError(f"latency must be >= 0, got {self.latency_ns}")


def symbol_seed(seed: int, symbol: str) -> int:
    """A per-symbol seed stable across processes (``hash()`` is salted per process)."""
    return zlib.crc32(f"{seed}:{symbol}".encode())


class SimBook:
    """One symbol's book. ``events`` counts state changes applied so far."""

    def __init__(self, cfg: SimConfig, symbol: str) -> None:
        self.cfg = cfg
        self.symbol = symbol
        base = symbol_seed(cfg.seed, symbol)
        self._content = random.Random(base)
        self._timing = random.Random(base ^ 0x5EED)
        self._calls = random.Random(base ^ 0xCA11)
        n = cfg.levels
        rnd = self._content
        mid_ticks = int(round(cfg.mid / cfg.tick))
        self.best_ask = mid_ticks + 1
        self.best_bid = mid_ticks
        self.asks = [rnd.randint(1, 30) for _ in range(n)]
        self.bids = [rnd.randint(1, 30) for _ in range(n)]
        self.events = 0
        self._burst_left = 0
        self._cache: Book | None = None
        self._next_ns: int | None = None

    # -- state evolution -------------------------------------------------
    def _shift_away(self, side: list[int], sign: int) -> None:
        """The best level of a side is gone: the next one becomes best."""
        side.pop(0)
        side.append(self._content.randint(1, 30))
        if sign > 0:
            self.best_ask += 1
        else:
            self.best_bid -= 1

    def step(self) -> None:
        """Apply one event; every event changes the visible book."""
        rnd = self._content
        is_ask = rnd.random() < 0.5
        side = self.asks if is_ask else self.bids
        sign = 1 if is_ask else -1
        u = rnd.random()
        spread = self.best_ask - self.best_bid
        if u < 0.55:
            # Resting volume changes somewhere, mostly near the top.
            k = min(int(rnd.expovariate(0.35)), len(side) - 1)
            delta = rnd.randint(1, 6) * (1 if rnd.random() < 0.5 else -1)
            if side[k] == 0:
                delta = abs(delta)  # an empty level can only fill up: every event is visible
            v = side[k] + delta
            if v <= 0 and k == 0:
                self._shift_away(side, sign)
            else:
                side[k] = max(v, 0)
        elif u < 0.85:
            # A trade eats into the best level.
            take = rnd.randint(1, max(1, side[0]))
            if take >= side[0]:
                self._shift_away(side, sign)
            else:
                side[0] -= take
        elif spread > 1:
            # A new order improves the price inside the spread.
            side.insert(0, rnd.randint(1, 15))
            side.pop()
            if sign > 0:
                self.best_ask -= 1
            else:
                self.best_bid += 1
        else:
            k = min(int(rnd.expovariate(0.2)), len(side) - 1)
            side[k] += rnd.randint(1, 20)
        self.events += 1
        self._cache = None

    def advance_to(self, events: int) -> None:
        while self.events < events:
            self.step()

    # -- output ------------------------------------------------------------
    def book(self) -> Book:
        """The current state in MT5's shape: sells then buys, prices descending."""
        if self._cache is None:
            tick = self.cfg.tick
            a0, b0 = self.best_ask, self.best_bid
            out = [
                BookInfo(BOOK_TYPE_SELL, (a0 + i) * tick, v, float(v))
                for i, v in reversed(list(enumerate(self.asks)))
                if v > 0
            ]
            out += [
                BookInfo(BOOK_TYPE_BUY, (b0 - i) * tick, v, float(v))
                for i, v in enumerate(self.bids)
                if v > 0
            ]
            self._cache = tuple(out)
        return self._cache

    # -- per-call advance ------------------------------------------------------
    def on_call(self, now_perf_ns: int) -> None:
        """Advance the state as the mode says, just before serving a call."""
        cfg = self.cfg
        if cfg.lockstep:
            r = self._calls
            if r.random() >= cfg.unchanged_prob:
                for _ in range(r.randint(1, cfg.max_events_per_call)):
                    self.step()
            return
        if self._next_ns is None:
            if cfg.anchor_ns is None:
                self._next_ns = now_perf_ns + self._gap_ns()
                return
            # Map the wall-clock anchor onto perf_counter once, then catch up.
            wall_minus_perf = _clock.time_ns() - _clock.perf_counter_ns()
            self._next_ns = cfg.anchor_ns - wall_minus_perf + self._gap_ns()
        while self._next_ns <= now_perf_ns:
            self.step()
            self._next_ns += self._gap_ns()

    def _gap_ns(self) -> int:
        cfg = self.cfg
        t = self._timing
        if self._burst_left > 0:
            self._burst_left -= 1
            rate = cfg.rate * cfg.burst_factor
        else:
            if t.random() < cfg.burst_prob:
                self._burst_left = cfg.burst_events
            rate = cfg.rate
        return int(t.expovariate(rate) * 1e9) + 1


class SimMarket:
    """Several symbols' books behind one ``market_book_get``-like call.

    With ``log=True`` it remembers, per symbol, the event count of the state
    it served on each call: the ground truth a recording is checked against.
    """

    def __init__(self, cfg: SimConfig | None = None, *, log: bool = False) -> None:
        self.cfg = cfg or SimConfig()
        self.books: dict[str, SimBook] = {}
        self.log: dict[str, list[int]] | None = {} if log else None

    def _get(self, symbol: str) -> SimBook:
        b = self.books.get(symbol)
        if b is None:
            b = self.books[symbol] = SimBook(self.cfg, symbol)
            if self.log is not None:
                self.log[symbol] = []
        return b

    def market_book_get(self, symbol: str) -> Book:
        b = self._get(symbol)
        t0 = time.perf_counter_ns()
        # The market runs on the clock module's time (a test's fast clock speeds it up
        # too); the emulated latency below stays real.
        b.on_call(_clock.perf_counter_ns())
        out = b.book()
        if self.log is not None:
            self.log[symbol].append(b.events)
        lat = self.cfg.latency_ns
        if lat:
            # Busy-wait: sleep() cannot do 80 us on most OSes.
            end = t0 + lat
            while time.perf_counter_ns() < end:
                pass
        return out


def book_at(cfg: SimConfig, symbol: str, events: int) -> Book:
    """The state a symbol's book has after ``events`` events (timing-independent)."""
    b = SimBook(cfg, symbol)
    b.advance_to(events)
    return b.book()


def books_at(cfg: SimConfig, symbol: str, events: list[int]) -> list[Book]:
    """States at several (non-decreasing) event counts, in one pass."""
    b = SimBook(cfg, symbol)
    out = []
    for n in events:
        if n < b.events:
            raise ValueError("event counts must not decrease")
        b.advance_to(n)
        out.append(b.book())
    return out
