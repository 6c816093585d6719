"""``--source sim``: the simulated market as a :class:`~booktape.sources.Source`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import partial
from typing import Any

from ..events import EventSink
from ..model import Book
from .simulated import SimConfig, SimMarket


class SimSource:
    """Serves :class:`SimMarket` books; optionally logs what it served to a file."""

    name = "sim"

    def __init__(self, log_path: str | None = None, **cfg: Any) -> None:
        self.cfg = SimConfig(**cfg)
        self.log_path = log_path
        self.market = SimMarket(self.cfg, log=log_path is not None)

    def open(self, symbols: tuple[str, ...]) -> None:
        from ..clock import SystemClock

        # The truth's perf -> wall mapping, anchored like the capture loop's.
        self.wall_offset_ns = SystemClock().offset_ns
        for s in symbols:
            self.market._get(s)

    def getter(self, symbol: str) -> Callable[[], Book | None]:
        return partial(self.market.market_book_get, symbol)

    def symbol_info(self, symbol: str) -> dict[str, Any]:
        c = self.cfg
        return {"digits": 0, "trade_tick_size": c.tick, "ticks_bookdepth": c.levels,
                "sim_seed": c.seed, "sim_lockstep": c.lockstep}

    def bind(self, events: EventSink, should_stop: Callable[[], bool]) -> None:
        self.events = events

    def close(self) -> None:
        if self.log_path and self.market.log is not None:
            # The ground truth: event count served per call, per symbol, and the
            # market's true timeline (booktape truth scores a tape against it).
            from .sim_timeline import timeline

            m = self.market
            offset = getattr(self, "wall_offset_ns", None)
            if offset is None:
                from ..clock import SystemClock

                offset = SystemClock().offset_ns
            doc = timeline(self.cfg, m.books, m.log or {}, m.call_ns, offset)
            tmp = self.log_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(doc, f)
            os.replace(tmp, self.log_path)
