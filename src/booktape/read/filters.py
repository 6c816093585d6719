"""Filters that match nothing are errors, naming what the tape does hold (issue 14).

A cron check with a typo (``--collector zeroo``) must fail loudly instead of
reporting "0 streams, OK". Every reader of a tape (``read``, ``analyze``,
``export``, ``ls``, ``verify``) calls :func:`check_filters` once before it works;
it reads directory names only, so it costs nothing on a large tape.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BadArgument, TapeNotFound
from ..tape.layout import parse_partition, partition_dirs


def _names(values: set[str]) -> str:
    return ", ".join(sorted(values)) or "none"


def check_window(start_ns: int | None, end_ns: int | None) -> None:
    """Raise :class:`BadArgument` when ``start`` is not before ``end``."""
    if start_ns is not None and end_ns is not None and start_ns >= end_ns:
        import datetime as dt

        def iso(ns: int) -> str:
            return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).isoformat()

        raise BadArgument(f"--start {iso(start_ns)} is not before --end {iso(end_ns)}: "
                          "the window holds nothing; swap them or widen it")


def check_filters(data: str | Path, symbol: str | None = None, collector: str | None = None,
                  start_ns: int | None = None, end_ns: int | None = None) -> None:
    """Raise when a filter cannot match anything in tape ``data``.

    Raises:
        TapeNotFound: ``data`` holds no tape, or no partition has this symbol or
            collector (the message lists the ones it has).
        BadArgument: ``start`` is not before ``end``.
    """
    check_window(start_ns, end_ns)
    root = Path(data)
    if symbol is None and collector is None:
        return
    dirs = [parse_partition(d) for d in partition_dirs(root)]
    if not dirs:
        return  # the caller names "no tape at ..." itself
    symbols = {k.get("symbol", "") for k in dirs}
    if symbol is not None and symbol not in symbols:
        raise TapeNotFound(f"no symbol {symbol!r} in {root}; symbols here: {_names(symbols)}")
    here = {k.get("collector", "") for k in dirs if symbol is None or k.get("symbol") == symbol}
    if collector is not None and collector not in here:
        of = f" for {symbol}" if symbol is not None else ""
        raise TapeNotFound(f"no collector {collector!r}{of} in {root}; "
                           f"collectors here: {_names(here)}")
