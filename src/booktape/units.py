"""Parsing of the CLI's human units: durations, sizes, clock times."""

from __future__ import annotations

import datetime as dt
import re

from .errors import BadArgument

_DUR = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|min|h|d)?\s*$", re.IGNORECASE)
_DUR_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
           "m": 60_000_000_000, "min": 60_000_000_000, "h": 3_600_000_000_000,
           "d": 86_400_000_000_000}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_MULT = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_duration(text: str | float, what: str = "duration", default_unit: str = "s") -> int:
    """``"10m"``, ``"80us"``, ``"1.5h"``, ``"0"`` → ns. A bare number is in ``default_unit``."""
    if isinstance(text, (int, float)):
        return int(text * _DUR_NS[default_unit])
    m = _DUR.match(text)
    if not m:
        raise BadArgument(
            f"invalid {what} {text!r}: use a number with a unit, e.g. 80us, 50ms, 30s, 10m, 1h"
        )
    unit = (m.group(2) or default_unit).lower()
    return int(float(m.group(1)) * _DUR_NS[unit])


def parse_size(text: str | int, what: str = "size") -> int:
    """``"1GB"``, ``"256MB"``, ``"64k"``, ``"1000"`` → bytes (binary multiples)."""
    if isinstance(text, int):
        return text
    m = _SIZE.match(text)
    if not m:
        raise BadArgument(f"invalid {what} {text!r}: use a number with a unit, e.g. 16MB, 256MB, 1GB")
    unit = (m.group(2) or "").lower().rstrip("b").rstrip("i")
    value = int(float(m.group(1)) * _SIZE_MULT[unit])
    if value <= 0:
        raise BadArgument(f"invalid {what} {text!r}: must be positive")
    return value


def _clock_or_iso(text: str, what: str, now: dt.datetime) -> dt.time | dt.datetime:
    """``HH:MM`` / ``HH:MM:SS`` as a time of day, or an ISO date-time (naive = ``now``'s zone)."""
    t = text.strip()
    for fmt in ("%H:%M", "%H:%M:%S"):
        try:
            return dt.datetime.strptime(t, fmt).time()
        except ValueError:
            continue
    try:
        target = dt.datetime.fromisoformat(t)
    except ValueError:
        raise BadArgument(
            f"invalid {what} {text!r}: use HH:MM, HH:MM:SS or an ISO date-time like 2026-11-26T23:50"
        ) from None
    return target if target.tzinfo is not None else target.replace(tzinfo=now.tzinfo)


def parse_until(text: str, now: dt.datetime) -> dt.datetime:
    """``"23:50"`` / ``"23:50:30"`` (today, or tomorrow if already past) or an ISO datetime."""
    got = _clock_or_iso(text, "--until", now)
    if isinstance(got, dt.datetime):
        if got <= now:
            # A past deadline used to record one poll and exit 0 (issue 14).
            raise BadArgument(f"invalid --until {text!r}: that time has passed "
                              f"(now {now.isoformat(timespec='seconds')})")
        return got
    target = dt.datetime.combine(now.date(), got, tzinfo=now.tzinfo)
    return target + dt.timedelta(days=1) if target <= now else target


def parse_time(value: object, what: str = "time") -> int | None:
    """A start/end bound: None, int ns, datetime, pandas Timestamp, or ISO text → ns (UTC)."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp() * 1e6) * 1000
    try:
        import pandas as pd

        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise BadArgument(f"invalid {what} {value!r}: use an ISO date-time like 2026-11-26T10:00") from None
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.value)


def human_bytes(n: float) -> str:
    # Binary multiples carry binary names: 93,238,897 bytes is 88.9 MiB, not "88.9 MB".
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def human_ns(ns: float) -> str:
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.1f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e9:.2f} s"


def parse_anchor(text: str, now: dt.datetime | None = None) -> int:
    """``"12:00"`` / ``"12:00:30"`` (today, local time) or an ISO date-time → wall ns."""
    now = now or dt.datetime.now().astimezone()
    got = _clock_or_iso(text, "--sim-anchor", now)
    if not isinstance(got, dt.datetime):
        got = dt.datetime.combine(now.date(), got, tzinfo=now.tzinfo)
    return int(got.timestamp() * 1e6) * 1000
