"""Score a tape against the simulated market's true timeline (``booktape truth``, issue 13).

The truth file (``record --sim-log``) lists every state the market had while it
was polled: event count, birth, death (wall ns) and a content hash. A stored
state is matched to the true state with its content that was alive while the
poll ran (the nearest one within :data:`SLACK_NS`, the two clocks'
anchoring, when none was), in order. A
true state is *stored* when it was matched, or when its content equals the
stored state before it (polls read it as unchanged: the tape holds that book
content over that span); every other true state between the tape's first
stored state and the last poll is *missed*, and is checked against the
``blind_ns`` covering it: that of the next stored state, or the trailing value
of the ``session_stop`` event after the last one. A missed state that lived at
least as long as its bound breaks the promise the tape makes: a violation.

A merged tape (``booktape merge``) is ordered by ``t_mid`` over several
collectors' polls, which can run against the market's order (a slow poll of
one collector lands after quicker, later reads of another), so "the next
stored state" names no claim there. Its ``blind_ns`` promises, per merged state
``i``, that no state missed by every collector and living inside
``(t_before[i-1], t_after[i]]`` lasted that long (:mod:`booktape.read.merge_bound`):
a missed state is checked against the smallest bound of those intervals that
hold it, among the merged states near the first whose ``t_after`` is at or
after its death (that one always holds it: the poll before it ended before
the state died, so it read before the state was born).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from ..errors import BadArgument, TapeNotFound
from ..events import read_events
from ..read.reader import read_arrow, tape_files
from ..schema import metadata_of
from ..sources.sim_timeline import TRUTH_VERSION, packed_hash

#: How far a poll's window is widened when looking for the state it read: the
#: sim and the recorder anchor perf_counter to the wall clock separately.
SLACK_NS = 1_000_000

#: Lifetime buckets of the report: (upper bound ns or None, label).
BUCKETS: tuple[tuple[int | None, str], ...] = (
    (100_000, "<100us"), (1_000_000, "<1ms"), (10_000_000, "<10ms"), (None, ">=10ms"))

#: Merged states on either side of a missed state's first candidate whose intervals
#: are checked too (a merged tape is near ``t_mid`` order: far ones cannot hold it).
NEAR = 16

_COLS = ["seq", "t_before_ns", "t_after_ns", "blind_ns", "level", "type", "price", "volume",
         "volume_dbl"]


@dataclass
class Violation:
    """A missed state that lived at least as long as the bound covering it."""

    symbol: str
    collector: str
    events: int  # the state's event count in the sim
    birth_ns: int
    death_ns: int
    bound_ns: int
    next_seq: int | None  # the stored state whose blind_ns covers it; None: the session's tail

    @property
    def lifetime_ns(self) -> int:
        return self.death_ns - self.birth_ns

    def describe(self) -> str:
        where = f"before seq {self.next_seq}" if self.next_seq is not None else "after the last stored state"
        return (f"{self.symbol}/{self.collector}: state {self.events} lived "
                f"{self.lifetime_ns / 1e3:,.1f} us (born {self.birth_ns}) and was missed {where}, "
                f"but blind_ns there is {self.bound_ns / 1e3:,.1f} us")


@dataclass
class TruthScore:
    """One symbol and collector (or the union of collectors) against the truth."""

    symbol: str
    collector: str
    true_states: int
    stored: int
    missed: int
    unchecked: int  # missed where the tape gives no bound (a merged tape's tail or gaps)
    true_by_lifetime: dict[str, int]
    missed_by_lifetime: dict[str, int]
    violations: list[Violation] = field(default_factory=list)
    stored_mask: np.ndarray | None = field(default=None, repr=False)  # over the truth's states
    #: per missed state (in order): its lifetime and the blind_ns covering it (-1 unknown)
    missed_life_ns: np.ndarray | None = field(default=None, repr=False)
    missed_bound_ns: np.ndarray | None = field(default=None, repr=False)
    first_event: int = 0  # the event count of the truth's first state (index 0 of the mask)
    life_ns: np.ndarray | None = field(default=None, repr=False)  # every true state's lifetime
    scope: tuple[int, int] = (0, 0)  # truth indices [lo, hi) scored

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("stored_mask", "missed_life_ns", "missed_bound_ns", "life_ns"):
            d.pop(k)
        d["violations"] = [dict(asdict(v), lifetime_ns=v.lifetime_ns) for v in self.violations]
        return d


@dataclass
class TruthReport:
    scores: list[TruthScore]
    union: list[TruthScore]

    @property
    def violations(self) -> list[Violation]:
        return [v for s in self.scores for v in s.violations]

    @property
    def ok(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "scores": [s.as_dict() for s in self.scores],
                "union": [s.as_dict() for s in self.union]}


def load_truth(path: str | Path) -> dict[str, Any]:
    """The truth file's content, or a :class:`BadArgument` saying what is wrong with it."""
    p = Path(path)
    if not p.is_file():
        raise BadArgument(f"--sim-log {p}: no such file")
    try:
        doc = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadArgument(f"--sim-log {p} is truncated or damaged ({e.msg if hasattr(e, 'msg') else e}); "
                          "it is written whole when the recording ends") from None
    if not isinstance(doc, dict) or "symbols" not in doc or doc.get("version") != TRUTH_VERSION:
        raise BadArgument(f"--sim-log {p} holds no true timeline (written by an older booktape, "
                          "or not a --sim-log file): record again with --sim-log")
    for sym, tl in doc["symbols"].items():
        n = len(tl.get("events", ()))
        if not n or any(len(tl.get(k, ())) != n for k in ("birth_ns", "death_ns", "hash")):
            raise BadArgument(f"--sim-log {p}: the timeline of {sym} is incomplete")
    return doc


def _bucket_counts(life: np.ndarray) -> dict[str, int]:
    out, lo = {}, 0
    for hi, label in BUCKETS:
        m = (life >= lo) if hi is None else ((life >= lo) & (life < hi))
        out[label] = int(m.sum())
        lo = hi or 0
    return out


def _snapshots(t: Any) -> dict[str, np.ndarray]:
    """Per stored snapshot: seq, stamps, blind_ns (-1 unknown) and content hash."""
    seq = t.column("seq").to_numpy().astype(np.int64)
    if seq.size == 0:
        z = np.zeros(0, np.int64)
        return {"seq": z, "tb": z, "ta": z, "blind": z, "hash": z}
    starts = np.concatenate(([0], np.flatnonzero(np.diff(seq)) + 1))
    ends = np.append(starts[1:], seq.size)
    level = t.column("level").to_numpy()
    lv = np.ascontiguousarray(np.column_stack([
        t.column("type").to_numpy().astype(np.float64), t.column("price").to_numpy(),
        t.column("volume").to_numpy().astype(np.float64), t.column("volume_dbl").to_numpy()]))
    # One hash per stored book over the bytes the capture loop packed (hand-written
    # loop: a per-snapshot digest has no vectorised form in numpy).
    hashes = np.fromiter((packed_hash(b"" if level[a] < 0 else lv[a:b].tobytes())
                          for a, b in zip(starts.tolist(), ends.tolist())), np.int64, starts.size)
    blind = t.column("blind_ns").to_numpy(zero_copy_only=False)
    blind = np.where(np.isnan(blind.astype(np.float64)), -1, blind).astype(np.int64) \
        if t.column("blind_ns").null_count else blind.astype(np.int64)
    return {"seq": seq[starts], "tb": t.column("t_before_ns").to_numpy()[starts],
            "ta": t.column("t_after_ns").to_numpy()[starts], "blind": blind[starts],
            "hash": hashes}


def _trailing_bound(tape: Path, collector: str, symbol: str, end_ns: int) -> int | None:
    """The trailing blind_ns of the session that ended with the truth's window."""
    best = None
    for e in read_events(tape, collector):
        if e.get("kind") != "session_stop":
            continue
        tb = (e.get("detail") or {}).get("trailing_blind_ns") or {}
        if symbol in tb and int(e["t_ns"]) >= end_ns - SLACK_NS:
            if best is None or int(e["t_ns"]) < best[0]:
                best = (int(e["t_ns"]), int(tb[symbol]))
    return None if best is None else best[1]


def _is_merged(tape: Path, symbol: str, collector: str) -> bool:
    """Whether the collector is a merged tape (its parts say ``source: merge``)."""
    for f in tape_files(tape, symbol, collector):
        if f.sealed and f.path.suffix == ".parquet":
            return metadata_of(pq.read_schema(f.path)).get("source") == "merge"
    return False


def _interval_bounds(s: dict[str, np.ndarray], birth: np.ndarray, death: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per missed state of a merged tape: the smallest bound of the merged intervals
    ``(t_before[i-1], t_after[i]]`` near it that hold it, and that ``i`` (-1: none)."""
    n, m = s["seq"].size, birth.size
    bound, where = np.full(m, -1, np.int64), np.full(m, -1, np.int64)
    if n < 2:
        return bound, where
    # The first merged state whose poll ended at or after the death (t_after is not
    # sorted in t_mid order; its running maximum is, and crosses d at that state).
    first = np.searchsorted(np.maximum.accumulate(s["ta"]), death, "left")
    step = 1 << 16  # states per block: (2 NEAR + 1) candidates each, memory bounded
    for a in range(0, m, step):
        bound[a:a + step], where[a:a + step] = _near_claims(
            s, birth[a:a + step], death[a:a + step], first[a:a + step])
    return bound, where


def _near_claims(s: dict[str, np.ndarray], birth: np.ndarray, death: np.ndarray,
                 first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_interval_bounds` for one block, over the NEAR claims around ``first``."""
    n, m = s["seq"].size, birth.size
    cand = first[:, None] + np.arange(-NEAR, NEAR + 1)[None, :]
    ok = (cand >= 1) & (cand < n)
    c = np.clip(cand, 1, n - 1)
    # A claim needs the merged state before it on the tape (seq consecutive, not cut
    # away by the window's filter) and a known bound.
    ok &= (s["seq"][c] - s["seq"][c - 1] == 1) & (s["blind"][c] >= 0)
    ok &= (s["tb"][c - 1] <= birth[:, None]) & (death[:, None] <= s["ta"][c])
    big = np.iinfo(np.int64).max
    b = np.where(ok, s["blind"][c], big)
    j = np.argmin(b, axis=1)
    best = b[np.arange(m), j]
    found = best < big
    return np.where(found, best, -1), np.where(found, c[np.arange(m), j], -1)


def _score(tape: Path, symbol: str, collector: str, tl: dict[str, Any], path: str) -> TruthScore:
    births = np.asarray(tl["birth_ns"], np.int64)
    deaths = np.asarray(tl["death_ns"], np.int64)
    hashes = np.asarray(tl["hash"], np.int64)
    events = np.asarray(tl["events"], np.int64)
    w0, w1 = int(tl["window_ns"][0]), int(tl["window_ns"][1])
    t = read_arrow(tape, symbol, collector, start=w0 - SLACK_NS, end=w1 + SLACK_NS,
                   columns=_COLS, verify=False)
    s = _snapshots(t)  # polls that started inside the window (read_arrow filters t_before)
    merged = _is_merged(tape, symbol, collector)
    whole = dict(s)  # a merged tape's intervals: every state read, matched or not
    if not s["seq"].size:
        raise BadArgument(f"{symbol}/{collector} stored no state inside the window of "
                          f"--sim-log {path} (another recording?)")
    if (s["blind"] < 0).all():  # some nulls: a merged tape where no collector polled
        raise BadArgument(f"{symbol}/{collector} in {tape} has no blind_ns (recorded before "
                          "the bound existed): the bound is unknown, nothing to check")
    matched = np.full(s["seq"].size, -1, np.int64)
    p = 0
    lo_all = np.searchsorted(deaths, s["tb"] - SLACK_NS, "left")
    hi_all = np.searchsorted(births, s["ta"] + SLACK_NS, "right")
    for i in range(s["seq"].size):
        lo = max(int(lo_all[i]), p)
        hit = lo + np.flatnonzero(hashes[lo:int(hi_all[i])] == s["hash"][i])
        if not hit.size and lo > lo_all[i]:
            # A merged tape orders states by t_mid, which two collectors' stamps can
            # put against the market's order: look back within the poll's window.
            lo = int(lo_all[i])
            hit = lo + np.flatnonzero(hashes[lo:int(hi_all[i])] == s["hash"][i])
        if hit.size:
            # A book can come back (A, B, A): take the state alive during the poll
            # itself, or the nearest one when the two clocks' anchors differ.
            off = np.maximum(np.maximum(births[hit] - s["ta"][i], s["tb"][i] - deaths[hit]), 0)
            matched[i] = int(hit[int(np.argmin(off))])
            p = max(p, int(matched[i]))
    # Within SLACK_NS of the window's ends a poll may have read a state just outside
    # it (another collector of a merged tape; the clocks' anchoring): not a mismatch.
    edge = (s["tb"] < w0 + SLACK_NS) | (s["ta"] > w1 - SLACK_NS)
    keep = (matched >= 0) | ~edge
    s = {k: v[keep] for k, v in s.items()}
    matched = matched[keep]
    bad = int((matched < 0).sum())
    if bad * 2 > matched.size:
        raise BadArgument(f"--sim-log {path} does not describe {symbol}/{collector}: {bad:,} of "
                          f"{matched.size:,} stored states match no true state (another seed, "
                          "market or window?)")
    if bad:
        raise BadArgument(f"{symbol}/{collector}: {bad:,} stored states match no state of "
                          f"--sim-log {path} (the tape is not what the sim served)")
    # The first stored state of each matched true state carries the bound before it.
    m_idx, first_pos = np.unique(matched, return_index=True)
    m_blind, m_seq = s["blind"][first_pos], s["seq"][first_pos]
    lo_i, hi_i = int(m_idx[0]), events.size
    idx = np.arange(lo_i, hi_i)
    k = np.searchsorted(m_idx, idx, "left")
    at = np.minimum(k, m_idx.size - 1)
    is_match = m_idx[at] == idx
    prev = m_idx[np.maximum(k - 1, 0)]
    repeat = ~is_match & (hashes[prev] == hashes[idx])
    stored = is_match | repeat
    life = deaths[idx] - births[idx]
    missed = ~stored
    if merged:
        bound, at_i = np.full(idx.size, -1, np.int64), np.full(idx.size, -1, np.int64)
        bound[missed], at_i[missed] = _interval_bounds(whole, births[idx][missed],
                                                       deaths[idx][missed])
        bound_seq = np.where(at_i >= 0, whole["seq"][np.maximum(at_i, 0)], -1)
    else:
        trailing = _trailing_bound(tape, collector, symbol, w1)
        bound = np.where(k < m_idx.size, m_blind[at], -1 if trailing is None else trailing)
        bound_seq = np.where(k < m_idx.size, m_seq[at], -1)
    unchecked = missed & (bound < 0)
    viol = np.flatnonzero(missed & (bound >= 0) & (life >= bound))
    mask = np.zeros(events.size, bool)
    mask[idx] = stored
    return TruthScore(
        symbol=symbol, collector=collector, true_states=int(idx.size), stored=int(stored.sum()),
        missed=int(missed.sum()), unchecked=int(unchecked.sum()),
        true_by_lifetime=_bucket_counts(life), missed_by_lifetime=_bucket_counts(life[missed]),
        violations=[Violation(symbol, collector, int(events[idx[j]]), int(births[idx[j]]),
                              int(deaths[idx[j]]), int(bound[j]),
                              int(bound_seq[j]) if bound_seq[j] >= 0 else None) for j in viol],
        stored_mask=mask, scope=(lo_i, hi_i), missed_life_ns=life[missed],
        missed_bound_ns=bound[missed], first_event=int(events[0]), life_ns=deaths - births)


def union_score(scores: list[TruthScore]) -> TruthScore:
    """The union of several collectors of one symbol and one market, state by state.

    The scores may come from different truth files of one shared market
    (``--sim-anchor``: the same states under the same event counts); the union
    is scored over the states every collector was polling for, like for like.
    """
    s0 = scores[0]
    lo = max(s.first_event + s.scope[0] for s in scores)
    hi = max(min(s.first_event + s.scope[1] for s in scores), lo)
    mask = np.zeros(hi - lo, bool)
    for s in scores:
        assert s.stored_mask is not None
        mask |= s.stored_mask[lo - s.first_event:hi - s.first_event]
    assert s0.life_ns is not None
    life = s0.life_ns[lo - s0.first_event:hi - s0.first_event]
    missed = ~mask
    return TruthScore(symbol=s0.symbol, collector="+".join(s.collector for s in scores),
                      true_states=hi - lo, stored=int(mask.sum()), missed=int(missed.sum()),
                      unchecked=0, true_by_lifetime=_bucket_counts(life),
                      missed_by_lifetime=_bucket_counts(life[missed]), stored_mask=mask,
                      scope=(0, hi - lo), first_event=lo, life_ns=life)


def score_truth(tape: str | Path, sim_log: str | Path, symbol: str | None = None,
                collector: str | None = None) -> TruthReport:
    """Score every symbol and collector of ``tape`` that the truth file covers.

    Args:
        tape: the tape directory.
        sim_log: the file ``record --sim-log`` wrote for (one of) its sessions.
        symbol, collector: score only these.

    Returns:
        One :class:`TruthScore` per symbol and collector, and per symbol the
        union of its collectors (when there are several), scored over the
        states all of them were polling for.

    Raises:
        BadArgument: the truth file is missing, truncated, from another
            recording, or the tape has no ``blind_ns``.
        TapeNotFound: no tape at ``tape``.
    """
    doc = load_truth(sim_log)
    root = Path(tape)
    files = tape_files(root, symbol, collector)
    if not files:
        tape_files(root)  # raises TapeNotFound for a path that is not a tape
        raise TapeNotFound(f"no tape at {root} for symbol {symbol or '*'} / collector {collector or '*'}")
    pairs = sorted({(f.symbol, f.collector) for f in files if f.symbol in doc["symbols"]})
    if not pairs:
        raise BadArgument(f"--sim-log {sim_log} describes {sorted(doc['symbols'])}, none of "
                          f"which is in {root}")
    scores = [_score(root, s, c, doc["symbols"][s], str(sim_log)) for s, c in pairs]
    union = []
    for sym in sorted({s for s, _ in pairs}):
        mine = [x for x in scores if x.symbol == sym]
        if len(mine) > 1:
            union.append(union_score(mine))
    return TruthReport(scores, union)
