"""A simulated market that serves no book while the exchange is closed.

Registered as the ``closed-sim`` source kind by the tests that use it: between
``closed_from_ns`` and ``closed_until_ns`` (wall ns on the recorder's clock,
the dev clock in tests) every call returns None, as a terminal with no book
for a symbol does. The capture loop's next pair then spans the pause, so the
first state after it carries a ``blind_ns`` as long as the pause.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from booktape.clock import SystemClock
from booktape.model import Book
from booktape.sources.sim_source import SimSource


class ClosedSim(SimSource):
    name = "closed-sim"

    def __init__(self, closed_from_ns: int = 0, closed_until_ns: int = 0, **kw: Any) -> None:
        super().__init__(**kw)
        self.closed = (closed_from_ns, closed_until_ns)
        self.clock = SystemClock()

    def getter(self, symbol: str) -> Callable[[], Book | None]:
        inner = super().getter(symbol)
        lo, hi = self.closed
        now = self.clock.now_ns

        def get() -> Book | None:
            return None if lo <= now() < hi else inner()

        return get
