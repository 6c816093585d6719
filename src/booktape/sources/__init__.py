"""Market-data sources behind one protocol, chosen by name.

A source is opened *inside* the process that polls it (spawn-safe: only the
picklable :class:`SourceSpec` crosses process boundaries).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import BadArgument
from ..events import EventSink
from ..model import Book


class Source(Protocol):
    """What the capture loop needs from a market-data source."""

    name: str

    def open(self, symbols: tuple[str, ...]) -> None:
        """Connect and subscribe; raise ``SourceUnavailable`` with the cause."""

    def getter(self, symbol: str) -> Callable[[], Book | None]:
        """A zero-argument callable returning the current book (hot path)."""

    def symbol_info(self, symbol: str) -> dict[str, Any]:
        """Static facts (digits, tick size, depth) stored in the tape metadata."""

    def bind(self, events: EventSink, should_stop: Callable[[], bool]) -> None:
        """Where to report disconnects/reconnects, and how to know recording stopped.

        A getter that loses its link reports a ``disconnect`` event, retries with
        capped back-off (checking ``should_stop``), re-subscribes and reports
        ``reconnect``; meanwhile it returns ``None`` rather than raising.
        """

    def close(self) -> None:
        """Unsubscribe and disconnect; never raises."""


@dataclass(frozen=True)
class SourceSpec:
    """A picklable description of a source: its kind and keyword options."""

    kind: str = "sim"
    options: dict[str, Any] = field(default_factory=dict)


# kind -> "module:factory"; imported lazily so `sim` never imports MT5 bits.
_REGISTRY: dict[str, str] = {
    "sim": "booktape.sources.sim_source:SimSource",
    "mt5": "booktape.sources.mt5:MT5Source",
    "mt5linux": "booktape.sources.mt5linux:MT5LinuxSource",
}


def register(kind: str, target: str) -> None:
    """Register a source kind as ``"module:callable"`` taking ``**options``."""
    _REGISTRY[kind] = target


def source_kinds() -> list[str]:
    return sorted(_REGISTRY)


def make_source(spec: SourceSpec) -> Source:
    """Instantiate the source a spec names (not yet opened)."""
    target = _REGISTRY.get(spec.kind)
    if target is None:
        raise BadArgument(
            f"unknown source {spec.kind!r}; choose one of: {', '.join(source_kinds())}"
        )
    mod, _, attr = target.partition(":")
    factory = getattr(importlib.import_module(mod), attr)
    src: Source = factory(**spec.options)
    return src
