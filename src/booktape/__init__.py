"""booktape: record every order-book state a trading terminal shows, losslessly.

Public API::

    import booktape
    summary = booktape.record("data", "RIU2", duration="20s")
    df = booktape.read("data", symbol="RIU2")
    q = booktape.quotes("data", symbol="RIU2")   # best bid/ask per state
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from .errors import BooktapeError

if TYPE_CHECKING:
    from .read.reader import read, read_arrow
    from .read.summary import Summary
    from .read.views import BookState, book_at, quotes, replay, top
    from .record import record

__version__ = "0.1.0"

__all__ = ["BookState", "BooktapeError", "Summary", "__version__", "book_at", "quotes", "read",
           "read_arrow", "record", "replay", "top"]

# The public names load on first use (PEP 562), not at `import booktape`: every spawned helper
# (saver, poller, bench child) imports this package first, and pandas + pyarrow cost it seconds
# (15 s instead of 5 s per process under Wine, measured for issue 10) that it never uses.
_LAZY = {
    "read": ".read.reader", "read_arrow": ".read.reader", "Summary": ".read.summary",
    "BookState": ".read.views", "book_at": ".read.views", "quotes": ".read.views",
    "replay": ".read.views", "top": ".read.views", "record": ".record",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'booktape' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps ``booktape.read`` and ``booktape.record`` the functions: importing the submodule
    of the same name (``booktape.read.views``, ``booktape.record``) would otherwise bind the
    module over the name, as the eager imports here used to undo by importing after it."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return  # the submodule stays reachable through sys.modules and its own imports
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
