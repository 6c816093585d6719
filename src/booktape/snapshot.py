"""One book, now: the notebook's ``get_market_book`` as a library call."""

from __future__ import annotations

from typing import Any

from .clock import SystemClock
from .errors import SourceUnavailable
from .events import MemoryEvents
from .model import BOOK_TYPE_BUY, BOOK_TYPE_NAMES, BOOK_TYPE_SELL, Book
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


def book_dict(symbol: str, book: Book, t_ns: int) -> dict[str, Any]:
    """A book as JSON-ready data: its levels, the best bid and ask, and the spread.

    The best ask is the lowest ``sell`` price and the best bid the highest ``buy``
    price (MT5 lists sells first, prices descending, so level 0 is the *worst* ask);
    ``None`` where a side is empty.
    """
    import datetime as dt

    asks = [lv.price for lv in book if lv.type == BOOK_TYPE_SELL]
    bids = [lv.price for lv in book if lv.type == BOOK_TYPE_BUY]
    ask, bid = (min(asks) if asks else None), (max(bids) if bids else None)
    return {
        "symbol": symbol, "time_ns": t_ns,
        "time": dt.datetime.fromtimestamp(t_ns / 1e9, tz=dt.UTC).isoformat(),
        "best_bid": bid, "best_ask": ask,
        "spread": ask - bid if ask is not None and bid is not None else None,
        "levels": [{"side": BOOK_TYPE_NAMES.get(lv.type, str(lv.type)), "type": lv.type,
                    "price": lv.price, "volume": lv.volume, "volume_dbl": lv.volume_dbl}
                   for lv in book],
    }
