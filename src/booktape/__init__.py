"""booktape: record every order-book state a trading terminal shows, losslessly.

Public API::

    import booktape
    summary = booktape.record("data", "RIU2", duration="20s")
    df = booktape.read("data", symbol="RIU2")
"""

from __future__ import annotations

from .errors import BooktapeError
from .read.reader import read, read_arrow
from .read.summary import Summary
from .record import record

__version__ = "0.1.0"

__all__ = ["BooktapeError", "Summary", "__version__", "read", "read_arrow", "record"]
