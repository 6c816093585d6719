"""Views of a tape a quant asks for (issue 14): quotes, top-N, as-of book, replay.

Each view has one implementation: an ``iter_*`` generator of Arrow tables
computed columnwise with NumPy from the reader's stream of whole-snapshot
chunks (:mod:`booktape.read.stream`), so a full day streams in bounded memory.
The public functions collect those chunks into pandas; ``booktape export``
writes them chunk by chunk.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from ..errors import BadArgument, TapeNotFound
from ..tape.tape import Tape
from ..units import parse_time
from .filters import check_filters
from .reader import warn_problems
from .stream import DEFAULT_COLUMNS, UTC_NS, Stream, empty_table, iter_stream, streams

F64 = npt.NDArray[np.float64]
#: Stored/derived columns the state views need.
STATE_COLS = ["seq", "t_before_ns", "t_after_ns", "type", "price", "volume_dbl", "depth"]


def _streams(data: str | Path | Tape, symbol: str | None, collector: str | None,
             start: object, end: object,
             strict: bool = False) -> tuple[list[Stream], int | None, int | None]:
    start_ns, end_ns = parse_time(start, "start"), parse_time(end, "end")
    tape = Tape.of(data)
    check_filters(tape.root, symbol, collector, start_ns, end_ns)
    found = streams(tape, symbol, collector, start_ns, end_ns)
    if not found and not tape.files():
        raise TapeNotFound(f"no tape at {data}: no sealed parts or journals found")
    warn_problems(tape, symbol, collector, strict)
    return found, start_ns, end_ns


@dataclass(frozen=True)
class _Chunk:
    """One chunk's per-state index and the rows of each side, by depth."""

    seq: npt.NDArray[np.uint64]
    t_mid: npt.NDArray[np.int64]
    state: npt.NDArray[np.intp]  # state index of every row
    code: npt.NDArray[np.int8]  # 0 ask, 1 bid, 2/3 market orders, -1 empty-book marker
    depth: npt.NDArray[np.int16]
    price: F64
    volume: F64


def _chunk(t: pa.Table) -> _Chunk:
    seq = t.column("seq").to_numpy()
    new = np.empty(seq.size, dtype=bool)
    new[:1] = True
    np.not_equal(seq[1:], seq[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    tb = t.column("t_before_ns").to_numpy()[starts]
    ta = t.column("t_after_ns").to_numpy()[starts]
    typ = t.column("type").to_numpy()
    code = np.where((typ >= 1) & (typ <= 4), typ - 1, -1).astype(np.int8)
    return _Chunk(seq[starts], tb + (ta - tb) // 2, np.cumsum(new) - 1, code,
                  t.column("depth").to_numpy(), t.column("price").to_numpy(),
                  t.column("volume_dbl").to_numpy())


def _side_grid(c: _Chunk, code: int, n: int) -> tuple[F64, F64]:
    """Prices and volumes of one side, ``[state, depth]`` for depth < n (NaN if absent)."""
    m = (c.code == code) & (c.depth < n)
    price = np.full((c.seq.size, n), np.nan)
    vol = np.full((c.seq.size, n), np.nan)
    price[c.state[m], c.depth[m]] = c.price[m]
    vol[c.state[m], c.depth[m]] = c.volume[m]
    return price, vol


def _head(symbol: str, collector: str, c: _Chunk) -> dict[str, pa.Array]:
    n = c.seq.size
    codes = pa.array(np.zeros(n, dtype=np.int8))
    return {
        "symbol": pa.DictionaryArray.from_arrays(codes, pa.array([symbol])),
        "collector": pa.DictionaryArray.from_arrays(codes, pa.array([collector])),
        "time": pa.array(c.t_mid, pa.int64()).cast(UTC_NS),
        "seq": pa.array(c.seq, pa.uint64()),
    }


def quote_table(symbol: str, collector: str, t: pa.Table) -> pa.Table:
    """One row per state of ``t`` (whole snapshots with :data:`STATE_COLS`): best bid/ask."""
    c = _chunk(t)
    bid, bid_v = _side_grid(c, 1, 1)
    ask, ask_v = _side_grid(c, 0, 1)
    cols = _head(symbol, collector, c)
    cols.update(bid=bid[:, 0], bid_volume=bid_v[:, 0], ask=ask[:, 0], ask_volume=ask_v[:, 0],
                mid=(bid[:, 0] + ask[:, 0]) / 2, spread=ask[:, 0] - bid[:, 0])
    return pa.table(cols)


def top_table(symbol: str, collector: str, t: pa.Table, n: int) -> pa.Table:
    """One wide row per state of ``t``: the best ``n`` levels of each side."""
    c = _chunk(t)
    cols = _head(symbol, collector, c)
    for side, code in (("bid", 1), ("ask", 0)):
        price, vol = _side_grid(c, code, n)
        cols.update({f"{side}_price_{i}": price[:, i] for i in range(n)})
        cols.update({f"{side}_volume_{i}": vol[:, i] for i in range(n)})
    return pa.table(cols)


def iter_quotes(data: str | Path | Tape, symbol: str | None = None, collector: str | None = None,
                start: object = None, end: object = None, *,
                verify: bool = True, strict: bool = False, skip_damaged: bool = False,
                batch_rows: int | None = None) -> Iterator[pa.Table]:
    """:func:`quotes` as a stream of Arrow tables (of about ``batch_rows`` level rows each)."""
    found, start_ns, end_ns = _streams(data, symbol, collector, start, end, verify and strict)
    for s in found:
        for t in iter_stream(s, STATE_COLS, start_ns, end_ns, verify=verify,
                             skip_damaged=skip_damaged, batch_rows=batch_rows):
            yield quote_table(s.symbol, s.collector, t)


def iter_top(data: str | Path | Tape, n: int = 5, symbol: str | None = None,
             collector: str | None = None, start: object = None, end: object = None, *,
             verify: bool = True, strict: bool = False, skip_damaged: bool = False,
             batch_rows: int | None = None) -> Iterator[pa.Table]:
    """:func:`top` as a stream of Arrow tables (of about ``batch_rows`` level rows each)."""
    if n < 1:
        raise BadArgument(f"top n must be at least 1, got {n}")
    found, start_ns, end_ns = _streams(data, symbol, collector, start, end, verify and strict)
    for s in found:
        for t in iter_stream(s, STATE_COLS, start_ns, end_ns, verify=verify,
                             skip_damaged=skip_damaged, batch_rows=batch_rows):
            yield top_table(s.symbol, s.collector, t, n)


def iter_levels(data: str | Path | Tape, symbol: str | None = None, collector: str | None = None,
                start: object = None, end: object = None, *,
                verify: bool = True, strict: bool = False, skip_damaged: bool = False,
                batch_rows: int | None = None) -> Iterator[pa.Table]:
    """Every level row with the readers' columns (``booktape export --view levels``)."""
    found, start_ns, end_ns = _streams(data, symbol, collector, start, end, verify and strict)
    for s in found:
        yield from iter_stream(s, DEFAULT_COLUMNS, start_ns, end_ns, verify=verify,
                               skip_damaged=skip_damaged, batch_rows=batch_rows)


def _frame(chunks: Iterator[pa.Table], empty: pa.Table) -> pd.DataFrame:
    tables = list(chunks) or [empty]
    return pa.concat_tables(tables).to_pandas(split_blocks=True, self_destruct=True,
                                              use_threads=False)


def quotes(data: str | Path | Tape, symbol: str | None = None, collector: str | None = None,
           start: object = None, end: object = None, *, verify: bool = True,
           strict: bool = False, skip_damaged: bool = False) -> pd.DataFrame:
    """Best bid and ask of every stored state, one row per state.

    Columns: ``symbol``, ``collector``, ``time`` (the poll's midpoint ``t_mid``,
    ``datetime64[ns, UTC]``), ``seq``, ``bid``, ``bid_volume``, ``ask``,
    ``ask_volume``, ``mid``, ``spread`` (NaN where a side is empty). Volumes
    are MT5's ``volume_dbl``.

    Args:
        data: the tape directory.
        symbol, collector: keep only these.
        start, end: states with ``start <= t_before_ns < end`` (as in :func:`booktape.read`).
        verify: check sealed parts' checksums (once per part per process).
        strict, skip_damaged: as :func:`booktape.read_arrow`.

    Example::

        q = booktape.quotes("data", symbol="RIU2")
        q["time"] = q["time"].dt.tz_convert("Europe/Moscow")
    """
    return _frame(iter_quotes(data, symbol, collector, start, end, verify=verify, strict=strict,
                              skip_damaged=skip_damaged),
                  quote_table("", "", empty_table(STATE_COLS)))


def top(data: str | Path | Tape, n: int = 5, symbol: str | None = None,
        collector: str | None = None, start: object = None, end: object = None, *,
        verify: bool = True, strict: bool = False, skip_damaged: bool = False) -> pd.DataFrame:
    """The best ``n`` levels of each side per state, wide (tardis' ``book_snapshot_N`` shape).

    Columns: ``symbol``, ``collector``, ``time``, ``seq``, ``bid_price_0..n-1``,
    ``bid_volume_0..n-1``, ``ask_price_0..n-1``, ``ask_volume_0..n-1``
    (depth 0 = best; NaN past the book's depth). Arguments as :func:`quotes`.
    """
    return _frame(iter_top(data, n, symbol, collector, start, end, verify=verify, strict=strict,
                           skip_damaged=skip_damaged),
                  top_table("", "", empty_table(STATE_COLS), n))


def book_at(data: str | Path | Tape, symbol: str, time: object, collector: str | None = None, *,
            verify: bool = True) -> pd.DataFrame:
    """The book as it stood at ``time``: each collector's last state with ``t_mid <= time``.

    Returns its level rows (the columns of :func:`booktape.read`); an empty
    frame when the tape has no state of ``symbol`` at or before ``time``.
    Only parts and row groups near ``time`` are read.

    Raises:
        TapeNotFound: no tape at ``data``, or no ``symbol`` (and ``collector``) in it.
    """
    at = parse_time(time, "time")
    assert at is not None
    found = streams(data, symbol, collector)
    if not found:
        raise TapeNotFound(f"no {symbol!r}" + (f" of collector {collector!r}" if collector else "")
                           + f" in the tape at {data}")
    frames = []
    for s in found:
        # Look back a minute first, then an hour, then the whole tape: as-of
        # queries are usually near a state, and each step reads only its window.
        for back in (60_000_000_000, 3_600_000_000_000, None):
            last = None
            for t in iter_stream(s, DEFAULT_COLUMNS, None if back is None else at - back,
                                 at + 1, verify=verify):
                tb, ta = t.column("t_before_ns").to_numpy(), t.column("t_after_ns").to_numpy()
                seq = t.column("seq").to_numpy()[(tb + (ta - tb) // 2) <= at]
                if seq.size:
                    last = t.filter(pa.array(t.column("seq").to_numpy() == seq[-1]))
            if last is not None:
                frames.append(last)
                break
    if not frames:
        return empty_table(DEFAULT_COLUMNS).to_pandas()
    return pa.concat_tables(frames).to_pandas()


@dataclass(frozen=True)
class BookState:
    """One stored state: both sides best first, as ``(price, volume)`` rows."""

    symbol: str
    collector: str
    seq: int
    t_before_ns: int
    t_after_ns: int
    bids: F64  # shape (depth, 2): price, volume_dbl; bids[0] is the best bid
    asks: F64

    @property
    def t_mid_ns(self) -> int:
        return self.t_before_ns + (self.t_after_ns - self.t_before_ns) // 2

    @property
    def time(self) -> pd.Timestamp:
        return pd.Timestamp(self.t_mid_ns, unit="ns", tz="UTC")


def _stream_states(s: Stream, start_ns: int | None, end_ns: int | None,
                   verify: bool, skip_damaged: bool) -> Iterator[BookState]:
    cols = ["seq", "t_before_ns", "t_after_ns", "type", "price", "volume_dbl", "depth"]
    for t in iter_stream(s, cols, start_ns, end_ns, verify=verify, skip_damaged=skip_damaged):
        c = _chunk(t)
        tb = t.column("t_before_ns").to_numpy()
        ta = t.column("t_after_ns").to_numpy()
        # One sort per chunk puts each state's asks then bids in depth order,
        # so each state below is two slices, not a per-state sort.
        order = np.lexsort((c.depth, c.code, c.state))
        st, code = c.state[order], c.code[order]
        pv = np.stack([c.price[order], c.volume[order]], axis=1)
        bounds = np.searchsorted(st, np.arange(c.seq.size + 1))
        ask_end = np.searchsorted(st * 8 + code, np.arange(c.seq.size) * 8 + 1)
        bid_end = np.searchsorted(st * 8 + code, np.arange(c.seq.size) * 8 + 2)
        first = bounds[:-1]
        for i in range(c.seq.size):
            lo = first[i]
            while lo < bounds[i + 1] and code[lo] < 0:  # an empty book's marker row
                lo += 1
            yield BookState(s.symbol, s.collector, int(c.seq[i]), int(tb[first[i]]),
                            int(ta[first[i]]), pv[ask_end[i]:bid_end[i]], pv[lo:ask_end[i]])


def replay(data: str | Path | Tape, symbol: str | None = None, collector: str | None = None,
           start: object = None, end: object = None, *, verify: bool = True,
           strict: bool = False, skip_damaged: bool = False) -> Iterator[BookState]:
    """Every stored state in time order (by ``t_mid``), one :class:`BookState` at a time.

    Reads one row group per stream at a time, never the whole day. With
    several symbols or collectors their states are interleaved by time.

    Example::

        for state in booktape.replay("data", symbol="RIU2"):
            best_bid = state.bids[0, 0] if len(state.bids) else None
    """
    found, start_ns, end_ns = _streams(data, symbol, collector, start, end, verify and strict)
    gens = [_stream_states(s, start_ns, end_ns, verify, skip_damaged) for s in found]
    if len(gens) == 1:
        return gens[0]
    return heapq.merge(*gens, key=lambda b: b.t_mid_ns)
