"""A simulated market whose poller stalls once: ``sleep`` inside one call (issue 13's proof).

Registered as the ``stalled-sim`` source kind by the tests that use it; the
recorder builds it in the polling process, so the registration there suffices
in every topology. The stall's wall-clock start and end are written next to
the truth file (``<log>.stall.json``), on the stamps' clock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from booktape.model import Book
from booktape.sources.sim_source import SimSource


class StalledSim(SimSource):
    name = "stalled-sim"

    def __init__(self, stall_call: int = 300, stall_ns: int = 20_000_000, **kw: Any) -> None:
        super().__init__(**kw)
        self.stall_call = stall_call
        self.stall_ns = stall_ns
        self.calls = 0
        self.stall: tuple[int, int] | None = None

    def getter(self, symbol: str) -> Callable[[], Book | None]:
        inner = super().getter(symbol)

        def get() -> Book | None:
            self.calls += 1
            if self.calls == self.stall_call:
                t0 = time.perf_counter_ns()
                time.sleep(self.stall_ns / 1e9)
                self.stall = (t0, time.perf_counter_ns())
            return inner()

        return get

    def close(self) -> None:
        super().close()
        if self.log_path and self.stall is not None:
            off = self.wall_offset_ns
            with open(self.log_path + ".stall.json", "w") as f:
                json.dump([self.stall[0] + off, self.stall[1] + off], f)
