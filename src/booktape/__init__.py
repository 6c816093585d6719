"""booktape: record every order-book state a trading terminal shows, losslessly.

Public API::

    import booktape
    summary = booktape.record("data", "RIU2", duration="20s")
    df = booktape.read("data", symbol="RIU2")
    q = booktape.quotes("data", symbol="RIU2")   # best bid/ask per state
"""

from __future__ import annotations

from .errors import BooktapeError
from .read.reader import read, read_arrow
from .read.summary import Summary
from .read.views import BookState, book_at, quotes, replay, top
from .record import record

__version__ = "0.1.0"

__all__ = ["BookState", "BooktapeError", "Summary", "__version__", "book_at", "quotes", "read",
           "read_arrow", "record", "replay", "top"]
