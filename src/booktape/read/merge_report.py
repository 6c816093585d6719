"""What ``booktape merge`` found: plain dataclasses, JSON-ready through :meth:`MergeReport.to_dict`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .align import OffsetEstimate
from .merge_bound import UnionBound
from .states import PollStats


@dataclass(frozen=True)
class CollectorSummary:
    """One input collector: its states, time span and polling."""

    name: str
    states: int  # stored snapshots read
    distinct: int  # after folding repeats of the same book (keep-unchanged, restarts)
    t_first_ns: int  # t_mid of its first and last state, on the reference clock
    t_last_ns: int
    only_here: int  # merged states no other collector saw
    missing: int  # merged states others saw inside this collector's span, it did not
    poll: PollStats


@dataclass(frozen=True)
class Run:
    """Consecutive merged states (by t_mid) that ``collector`` did not see, inside its span."""

    collector: str
    t_start_ns: int
    t_end_ns: int
    states: int
    seen_by: tuple[str, ...]  # who saw them


@dataclass(frozen=True)
class Conflict:
    """Two collectors confirmed holding different books at once, longer than the tolerance."""

    collectors: tuple[str, str]
    t_start_ns: int
    t_end_ns: int
    overlap_ns: int  # the longest single disagreement in the episode
    seq: tuple[int, int]  # each collector's seq of the books in that disagreement
    detail: str  # how the two books differ


@dataclass(frozen=True)
class MergeReport:
    """Alignment of redundant collectors of one symbol, and the merged tape written."""

    symbol: str
    collectors: tuple[str, ...]
    out: str
    name: str  # collector name of the merged tape
    per_collector: list[CollectorSummary]
    merged_states: int
    merged_rows: int
    seen_by_all: int
    missing: list[Run]
    conflicts: list[Conflict]
    offsets: list[OffsetEstimate]  # one per non-reference collector (None-free)
    tolerance_ns: int
    reordered: int  # places where t_mid order differs from the collectors' own order
    parts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: issue 13: each collector's guaranteed lifetime and blind spots, the union's, and
    #: the intervals no collector polled
    bound: UnionBound | None = None

    @property
    def ok(self) -> bool:
        """No conflicts (missing states alone are expected of redundant collectors)."""
        return not self.conflicts

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d
