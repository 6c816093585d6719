"""Book value types shared by every source: MT5's ``BookInfo`` shape and constants."""

from __future__ import annotations

from typing import NamedTuple

# Same values as the MetaTrader5 package (5.0.x): BOOK_TYPE_*.
BOOK_TYPE_SELL = 1
BOOK_TYPE_BUY = 2
BOOK_TYPE_SELL_MARKET = 3
BOOK_TYPE_BUY_MARKET = 4

BOOK_TYPE_NAMES = {
    BOOK_TYPE_SELL: "sell",
    BOOK_TYPE_BUY: "buy",
    BOOK_TYPE_SELL_MARKET: "sell market",
    BOOK_TYPE_BUY_MARKET: "buy market",
}


class BookInfo(NamedTuple):
    """One level of ``market_book_get``: read by position, like MT5's own type."""

    type: int
    price: float
    volume: int
    volume_dbl: float


#: What ``market_book_get`` returns: sells first then buys, prices descending.
Book = tuple[BookInfo, ...]
