"""The capture loop: poll, stamp, detect change, pack; never wait for storage.

Per poll: two ``perf_counter_ns`` stamps around the source call, a tuple
comparison with the previous book of that symbol (C-level, ~0.7 us for 40
levels, done before any conversion), and for a changed state one
``struct.pack_into`` into the current chunk. The chunk goes to ``handoff``
every ``chunk_snapshots`` states or ``chunk_ns`` of age, whichever first;
``handoff`` must not block (the topology decides what that means).

The bound of issue 13: a poll reads the book at some instant inside
``[t_before, t_after]``, so a state no poll read lived entirely between the
reads of two consecutive (non-None) polls ``j``, ``j+1`` of its symbol and
lasted less than ``t_after[j+1] - t_before[j]``. Per symbol the loop keeps the
largest such value since the previous stored state (one subtraction and one
compare per poll) and stores it with the next stored state as ``blind_ns``;
the value after the last stored state is ``CaptureResult.trailing_blind``.
The first poll of a session has no predecessor: the bound starts there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .. import clock as _clock
from ..model import Book
from .frame import ChunkBuilder
from .stats import Stats


class Packer(Protocol):
    """Where the loop packs changed states; :class:`ChunkBuilder` is the plain one."""

    snapshots: int

    def add(self, sym: int, seq: int, t_before: int, t_after: int, unchanged: int,
            blind: int, book: Book) -> None: ...

    def take(self) -> Any:
        """The chunk so far, for ``handoff``; the packer starts a new one."""


@dataclass(frozen=True, kw_only=True)
class CaptureConfig:
    """What to poll and when to stop. Times are ns; None means no limit."""

    symbols: tuple[str, ...]
    interval_ns: int = 0
    keep_unchanged: bool = False
    deadline_ns: int | None = None  # wall-clock ns
    max_polls: int | None = None
    chunk_snapshots: int = 128
    chunk_ns: int = 50_000_000
    #: Re-read the wall clock this often (issue 12: a 15-hour day of
    #: ``perf_counter`` drift, or an NTP step, must not skew the stamps).
    reanchor_ns: int = 60_000_000_000


class StopFlag:
    """A flag any process can raise; ``value`` is read once per poll round."""

    def __init__(self, raw: Any = None) -> None:
        import multiprocessing as mp

        self.raw = raw if raw is not None else mp.RawValue("b", 0)

    def __getstate__(self) -> Any:
        return self.raw

    def __setstate__(self, raw: Any) -> None:
        self.raw = raw

    def set(self) -> None:
        self.raw.value = 1

    def is_set(self) -> bool:
        return bool(self.raw.value)


@dataclass
class CaptureResult:
    polls: int
    stored: int
    unchanged: int
    none_results: int
    next_seq: list[int]
    trailing_unchanged: list[int]
    #: per symbol, the blind_ns bound since its last stored state (see the module doc)
    trailing_blind: list[int]


class Anchor(Protocol):
    """Where the loop re-reads the wall clock: ``SystemClock`` (tests inject their own)."""

    def reanchor(self) -> int:
        """A fresh offset to add to ``perf_counter_ns`` for wall ns."""


#: Wall-clock steps larger than this are reported (``on_step``, a clock_step row).
STEP_REPORT_NS = 1_000_000


def run_capture(getters: Sequence[Callable[[], Book | None]], cfg: CaptureConfig,
                wall_offset_ns: int, start_seq: Sequence[int],
                handoff: Callable[[Any], None], stop: StopFlag, stats: Stats,
                housekeeping: Callable[[], None] | None = None,
                packer: Packer | None = None, anchor: Anchor | None = None,
                on_step: Callable[[int, int], None] | None = None) -> CaptureResult:
    """Poll until the deadline, ``max_polls`` or ``stop``; hand chunks to ``handoff``.

    ``handoff`` receives what ``packer.take()`` returns: by default packed
    frames (see :mod:`booktape.capture.frame`); ``housekeeping`` runs after
    each hand-off. With ``anchor``, the wall offset is re-read every
    ``cfg.reanchor_ns``; ``on_step(t_ns, step_ns)`` hears of steps over 1 ms.
    Stored stamps never go backwards (a step back holds them until real time
    catches up), so they stay monotonic within the collector.
    """
    # The clock module's counter: time.perf_counter_ns itself unless a test's fast
    # clock (BOOKTAPE_DEV_CLOCK) is set.
    perf = _clock.perf_counter_ns
    n = len(getters)
    keep = cfg.keep_unchanged
    prev: list[Book | None] = [None] * n
    unchanged = [0] * n
    seq = list(start_seq)
    blind = [0] * n
    # Far in the future: the first poll's pair is negative and never wins the max.
    last_tb = [1 << 62] * n
    builder: Packer = packer if packer is not None else ChunkBuilder()
    add = builder.add
    off = wall_offset_ns
    polls = stored = unch_total = nones = 0
    chunk_n = cfg.chunk_snapshots
    chunk_ns = cfg.chunk_ns
    deadline = (cfg.deadline_ns - off) if cfg.deadline_ns is not None else None
    max_polls = cfg.max_polls
    interval = cfg.interval_ns
    raw_stop = stop.raw
    chunk_start = perf()
    next_t = chunk_start
    arr = stats.arr
    from .stats import IDX

    i_polls, i_stored, i_unch, i_last = IDX["polls"], IDX["stored"], IDX["unchanged"], IDX["last_poll_ns"]
    i_at = IDX["last_poll_at_ns"]
    stats.set("polls_ended_ns", 0)  # a scheduled recorder's next session polls again
    from .stats import MAX_SYMBOLS, symbol_index

    # Health and the watchdog (another process) read when each book last
    # changed: published per chunk (<= 50 ms late), nothing added per poll.
    n_pub = min(n, MAX_SYMBOLS)
    i_lc, i_ns = symbol_index("last_change_ns", 0), symbol_index("next_seq", 0)
    pub = list(seq)
    for k in range(n_pub):
        arr[i_ns + k] = seq[k]

    def publish(ta: int) -> None:
        arr[i_at] = ta + off
        for k in range(n_pub):
            if seq[k] != pub[k]:
                pub[k] = seq[k]
                arr[i_lc + k] = ta + off
                arr[i_ns + k] = seq[k]

    reanchor = cfg.reanchor_ns if anchor is not None else 0
    next_anchor = chunk_start + reanchor
    floor = 0  # the last stored t_after: stamps never go below it
    ta = chunk_start
    # A poll that starts past the deadline (a session's close) is not stored, even in a
    # round begun before it: one int compare per poll, so nothing lands outside a session.
    dl = deadline if deadline is not None else 1 << 62
    while True:
        for k in range(n):
            tb = perf()
            if tb >= dl:
                ta = tb  # the round ends here (the deadline test below sees it)
                break  # checked before the call: a discarded poll must not read the book
            book = getters[k]()
            ta = perf()
            polls += 1
            if book is None:
                nones += 1  # read nothing: the next pair spans it
                continue
            pair = ta - last_tb[k]
            last_tb[k] = tb
            if pair > blind[k]:
                blind[k] = pair
            if not keep and book == prev[k]:
                unchanged[k] += 1
                unch_total += 1
                continue
            prev[k] = book
            sb = tb + off
            if sb < floor:
                sb = floor
            sa = ta + off
            if sa < sb:
                sa = sb
            floor = sa
            add(k, seq[k], sb, sa, unchanged[k], blind[k], book)
            seq[k] += 1
            unchanged[k] = 0
            blind[k] = 0
            stored += 1
        if builder.snapshots >= chunk_n or (ta - chunk_start >= chunk_ns and builder.snapshots):
            handoff(builder.take())
            chunk_start = ta
            arr[i_polls] = polls
            arr[i_stored] = stored
            arr[i_unch] = unch_total
            arr[i_last] = ta - tb
            publish(ta)
            if housekeeping is not None:
                housekeeping()
        elif ta - chunk_start >= chunk_ns:
            chunk_start = ta
            arr[i_polls] = polls
            arr[i_unch] = unch_total
            arr[i_last] = ta - tb
            publish(ta)
            if housekeeping is not None:
                housekeeping()
        if reanchor and ta >= next_anchor:
            assert anchor is not None
            next_anchor = ta + reanchor
            new_off = anchor.reanchor()
            step = new_off - off
            off = new_off
            if deadline is not None and cfg.deadline_ns is not None:
                deadline = cfg.deadline_ns - off
            if abs(step) > STEP_REPORT_NS:
                stats.add("clock_steps")
                if on_step is not None:
                    on_step(ta + off, step)
        if raw_stop.value or (deadline is not None and ta >= deadline) or (
            max_polls is not None and polls >= max_polls
        ):
            break
        if interval:
            next_t += interval
            wait = next_t - perf()
            if wait > 2_000_000:
                _clock.sleep((wait - 1_000_000) / 1e9)
            while perf() < next_t:
                pass
            if next_t >= dl:
                break  # no round paced to start after the deadline
    if builder.snapshots:
        handoff(builder.take())
    publish(ta)
    arr[i_polls] = polls
    arr[i_stored] = stored
    arr[i_unch] = unch_total
    stats.set("none_results", nones)
    stats.set("polls_ended_ns", ta + off)
    return CaptureResult(polls, stored, unch_total, nones, seq, unchanged, blind)
