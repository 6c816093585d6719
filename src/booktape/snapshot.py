"""One book, now: the notebook's ``get_market_book`` as a library call."""

from __future__ import annotations

from typing import Any

from .clock import SystemClock
from .errors import SourceUnavailable
from .events import MemoryEvents
from .model import Book
from .sources import SourceSpec, make_source


def snapshot(symbol: str, source: str = "sim", source_options: dict[str, Any] | None = None) -> tuple[Book, int]:
    """Subscribe, read the current book once, unsubscribe: ``(book, t_after_ns)``."""
    from .tape.layout import check_name

    check_name("symbol", symbol)
    src = make_source(SourceSpec(source, dict(source_options or {})))
    src.bind(MemoryEvents(), lambda: True)
    src.open((symbol,))
    try:
        book = src.getter(symbol)()
        t = SystemClock().now_ns()
    finally:
        src.close()
    if book is None:
        raise SourceUnavailable(f"{source} returned no book for {symbol}")
    return book, t
