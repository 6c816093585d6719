"""``last_error()`` codes of the MetaTrader5 package, as words a user can act on."""

from __future__ import annotations

from typing import Any

OK = 1
AUTH_FAILED = -6
IPC_INIT = -10003

#: code -> what it means (the package's own names are RES_S_OK, RES_E_*).
MEANINGS: dict[int, str] = {
    1: "ok",
    -1: "generic failure",
    -2: "invalid parameters",
    -3: "out of memory",
    -4: "not found",
    -5: "invalid version",
    -6: "authorization failed",
    -7: "unsupported method",
    -8: "auto-trading disabled",
    -10000: "IPC general error",
    -10001: "IPC send failed",
    -10002: "IPC receive failed",
    -10003: "IPC initialization failed (no terminal found or it did not start)",
    -10004: "no IPC connection to the terminal",
    -10005: "IPC timeout",
}

#: Codes that mean the link to the terminal is gone: reconnect, don't retry the call.
IPC_CODES = frozenset(range(-10005, -9999))


def as_error(err: Any) -> tuple[int, str]:
    """Normalise what ``last_error()`` returned (a tuple, a proxy, or None)."""
    try:
        code, msg = err[0], err[1]
        return int(code), str(msg)
    except (TypeError, IndexError, ValueError):
        return -1, repr(err)


def describe(err: Any) -> str:
    """``(-6, 'Terminal: Authorization failed')`` -> ``'authorization failed (-6: Terminal: ...)'``."""
    code, msg = as_error(err)
    meaning = MEANINGS.get(code, "unknown error")
    return f"{meaning} ({code}: {msg})" if msg else f"{meaning} ({code})"


def is_link_loss(err: Any) -> bool:
    return as_error(err)[0] in IPC_CODES
