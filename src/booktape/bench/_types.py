"""Small value types shared by the bench modules."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class TapeCheck:
    """What reading a run's output back found (not what the recorder counted)."""

    expected: int
    snapshots: int
    duplicated: int
    rows: int
    bytes: int
    poll_durations: np.ndarray = field(default_factory=lambda: np.array([], np.int64))

    @property
    def lost(self) -> int:
        return max(self.expected - self.snapshots, 0)
