"""Trading calendars: when an exchange trades, as TOML data files a user can copy and edit.

A calendar names its time zone (exchange-local times whatever the machine's
zone, via :mod:`zoneinfo`), the kind of day each weekday is, the parts of each
kind of day (``morning``, ``main``, ``evening``; a part with ``pause = true``
is a scheduled break such as a clearing), and dates that differ from the week
(holidays, weekends without trading). A *window* is a maximal run of
contiguous trading parts: the recorder records through it and seals at its end.
The built-in files live in ``booktape/service/calendars/``; ``booktape sessions
NAME`` prints their windows. See ``moex-forts.toml`` for the annotated format.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import BadArgument
from ._toml import line_of_item, load_toml, where

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOSED = "closed"
_TOP_KEYS = {"name", "description", "timezone", "valid_from", "valid_until", "previous",
             "week", "days", "dates"}
_PART_KEYS = {"name", "start", "end", "pause"}
# How far ahead ``next_window`` looks before deciding a calendar has no more sessions.
_SEARCH_DAYS = 400


@dataclass(frozen=True)
class Part:
    """A named stretch of a trading day; ``pause`` parts are scheduled breaks."""

    name: str
    start: dt.timedelta  # since the exchange-local midnight
    end: dt.timedelta
    pause: bool = False


@dataclass(frozen=True)
class Window:
    """One continuous stretch of trading on one exchange-local date."""

    calendar: str
    date: dt.date
    day: str  # the kind of day: "weekday", "weekend", ...
    open: dt.datetime  # aware, in the exchange's zone
    close: dt.datetime
    parts: tuple[tuple[str, dt.datetime, dt.datetime], ...]

    @property
    def open_ns(self) -> int:
        return _to_ns(self.open)

    @property
    def close_ns(self) -> int:
        return _to_ns(self.close)

    def as_dict(self) -> dict[str, Any]:
        """ISO 8601 times with the exchange's UTC offset, and the same in UTC."""
        utc = dt.UTC
        return {
            "calendar": self.calendar, "date": self.date.isoformat(), "day": self.day,
            "open": self.open.isoformat(), "close": self.close.isoformat(),
            "open_utc": self.open.astimezone(utc).isoformat().replace("+00:00", "Z"),
            "close_utc": self.close.astimezone(utc).isoformat().replace("+00:00", "Z"),
            "parts": [{"name": n, "start": a.isoformat(), "end": b.isoformat()}
                      for n, a, b in self.parts],
        }


def _to_ns(t: dt.datetime) -> int:
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


class Calendar:
    """A parsed calendar file. Build with :func:`load_calendar`."""

    def __init__(self, *, name: str, tz: ZoneInfo, week: dict[int, str],
                 days: dict[str, tuple[Part, ...]], dates: dict[dt.date, str],
                 valid_from: dt.date | None, valid_until: dt.date | None,
                 previous: Calendar | None, description: str = "", source: str = "") -> None:
        self.name, self.tz, self.week, self.days, self.dates = name, tz, week, days, dates
        self.valid_from, self.valid_until, self.previous = valid_from, valid_until, previous
        self.description, self.source = description, source

    def day_kind(self, date: dt.date) -> tuple[Calendar, str]:
        """Which calendar governs ``date`` and its kind of day (or ``closed``)."""
        if self.valid_from is not None and date < self.valid_from:
            if self.previous is not None:
                return self.previous.day_kind(date)
            return self, CLOSED
        if self.valid_until is not None and date > self.valid_until:
            return self, CLOSED
        return self, self.dates.get(date, self.week[date.weekday()])

    def day_windows(self, date: dt.date) -> list[Window]:
        """The trading windows of one exchange-local date, in order (none if closed)."""
        cal, kind = self.day_kind(date)
        if kind == CLOSED:
            return []
        midnight = dt.datetime.combine(date, dt.time(0), tzinfo=cal.tz)
        out: list[Window] = []
        run: list[Part] = []

        def flush() -> None:
            if run:
                parts = tuple((p.name, _at(midnight, p.start, cal.tz), _at(midnight, p.end, cal.tz))
                              for p in run)
                out.append(Window(cal.name, date, kind, parts[0][1], parts[-1][2], parts))
                run.clear()

        for p in cal.days[kind]:
            if p.pause or (run and run[-1].end != p.start):
                flush()
            if not p.pause:
                run.append(p)
        flush()
        return out

    def windows(self, start: dt.date, days: int) -> list[Window]:
        """Every window of ``days`` exchange-local dates from ``start``."""
        out: list[Window] = []
        for i in range(days):
            out.extend(self.day_windows(start + dt.timedelta(days=i)))
        return out

    def next_window(self, t_ns: int) -> Window | None:
        """The window open at ``t_ns``, else the next one to open (None: no more sessions)."""
        local = dt.datetime.fromtimestamp(t_ns / 1e9, tz=self.tz).date()
        for i in range(-1, _SEARCH_DAYS):
            for w in self.day_windows(local + dt.timedelta(days=i)):
                if w.close_ns > t_ns:
                    return w
        return None

    def window_at(self, t_ns: int) -> Window | None:
        """The window open at ``t_ns``, if any."""
        w = self.next_window(t_ns)
        return w if w is not None and w.open_ns <= t_ns else None


def _at(midnight: dt.datetime, offset: dt.timedelta, tz: ZoneInfo) -> dt.datetime:
    # Wall-clock arithmetic in the exchange zone (a DST day keeps "08:50" at 08:50).
    naive = midnight.replace(tzinfo=None) + offset
    return naive.replace(tzinfo=tz)


def builtin_names() -> list[str]:
    """Names of the calendars shipped with booktape."""
    return sorted(p.name[:-5] for p in resources.files(__package__).joinpath("calendars").iterdir()
                  if p.name.endswith(".toml"))


def load_calendar(name_or_path: str | Path) -> Calendar:
    """A built-in calendar by name (``moex-forts``) or a user's TOML file by path.

    Raises:
        BadArgument: unknown name, unreadable file, or a bad key (named, with its line).
    """
    text = str(name_or_path)
    if text in builtin_names():
        ref = resources.files(__package__).joinpath("calendars", f"{text}.toml")
        with resources.as_file(ref) as path:
            return _parse(path, set())
    p = Path(text)
    if not p.exists() and not text.endswith(".toml") and "/" not in text and "\\" not in text:
        raise BadArgument(f"unknown calendar {text!r}: built in are {', '.join(builtin_names())}, "
                          f"or give the path of a TOML file")
    return _parse(p, set())


def _parse(path: Path, seen: set[str]) -> Calendar:
    data, text = load_toml(path, "calendar")

    def bad(key: str, msg: str, table: str | None = None, item: int | None = None) -> BadArgument:
        if item is not None and table is not None:
            n = line_of_item(text, table, item)
            if n is not None:
                return BadArgument(f"calendar {path}: key {key!r} (line {n}): {msg}")
        return BadArgument(f"calendar {where(path, text, key, table)}: {msg}")

    for k in data:
        if k not in _TOP_KEYS:
            raise bad(k, f"unknown key; allowed: {', '.join(sorted(_TOP_KEYS))}")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise bad("name", "must be a non-empty string")
    tzname = data.get("timezone")
    if not isinstance(tzname, str):
        raise bad("timezone", "missing or not a string; e.g. timezone = \"Europe/Moscow\"")
    try:
        tz = ZoneInfo(tzname)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad("timezone", f"unknown time zone {tzname!r} (install tzdata on Windows)") from None
    valid = {}
    for k in ("valid_from", "valid_until"):
        v = data.get(k)
        if v is not None and (not isinstance(v, dt.date) or isinstance(v, dt.datetime)):
            raise bad(k, "must be a date, e.g. 2026-03-23 (no quotes)")
        valid[k] = v
    days_raw = data.get("days")
    if not isinstance(days_raw, dict) or not days_raw:
        raise bad("days", "missing: give at least one [days.NAME] table with parts")
    days = {kind: _parse_parts(v, kind, bad) for kind, v in days_raw.items()}
    if CLOSED in days:
        raise bad(CLOSED, f"{CLOSED!r} is reserved for days without trading", "days")
    kinds = set(days) | {CLOSED}
    week_raw = data.get("week")
    if not isinstance(week_raw, dict):
        raise bad("week", "missing: a [week] table giving mon..sun a kind of day")
    week: dict[int, str] = {}
    for k, v in week_raw.items():
        if k not in WEEKDAYS:
            raise bad(k, f"not a weekday; use {', '.join(WEEKDAYS)}", "week")
        if v not in kinds:
            raise bad(k, f"unknown kind of day {v!r}; allowed: {', '.join(sorted(kinds))}", "week")
        week[WEEKDAYS.index(k)] = v
    missing = [d for i, d in enumerate(WEEKDAYS) if i not in week]
    if missing:
        raise bad("week", f"no kind of day for {', '.join(missing)}")
    dates: dict[dt.date, str] = {}
    for k, v in (data.get("dates") or {}).items():
        try:
            d = dt.date.fromisoformat(k)
        except ValueError:
            raise bad(k, "not a date; write 2026-05-01 = \"weekend\"", "dates") from None
        if v not in kinds:
            raise bad(k, f"unknown kind of day {v!r}; allowed: {', '.join(sorted(kinds))}", "dates")
        dates[d] = v
    previous = None
    prev_name = data.get("previous")
    if prev_name is not None:
        if not isinstance(prev_name, str) or prev_name not in builtin_names() or prev_name in seen:
            raise bad("previous", f"must name another built-in calendar ({', '.join(builtin_names())})")
        ref = resources.files(__package__).joinpath("calendars", f"{prev_name}.toml")
        with resources.as_file(ref) as ppath:
            previous = _parse(ppath, seen | {name})
    desc = data.get("description", "")
    return Calendar(name=name, tz=tz, week=week, days=days, dates=dates,
                    valid_from=valid["valid_from"], valid_until=valid["valid_until"],
                    previous=previous, description=desc if isinstance(desc, str) else "",
                    source=str(path))


def _parse_parts(raw: Any, kind: str, bad: Any) -> tuple[Part, ...]:
    if not isinstance(raw, dict) or set(raw) != {"parts"} or not isinstance(raw["parts"], list):
        raise bad(kind, "must be a table with one key, parts = [{name, start, end}, ...]", None)
    parts: list[Part] = []
    for i, p in enumerate(raw["parts"]):
        if not isinstance(p, dict) or not {"name", "start", "end"} <= set(p) or set(p) - _PART_KEYS:
            raise bad("parts", f"part {i + 1} of [days.{kind}] needs name, start, end "
                      f"(and optionally pause = true), got {p!r}", f"days.{kind}", i)
        start, end = _hhmm(p["start"]), _hhmm(p["end"])
        if start is None or end is None or not start < end:
            raise bad("parts", f"part {p.get('name')!r} of [days.{kind}]: start and end must be "
                      f"\"HH:MM\" with start < end (end may be \"24:00\")", f"days.{kind}", i)
        if parts and start < parts[-1].end:
            raise bad("parts", f"part {p['name']!r} of [days.{kind}] starts before "
                      f"{parts[-1].name!r} ends; list parts in time order", f"days.{kind}", i)
        if not isinstance(p.get("pause", False), bool):
            raise bad("pause", "must be true or false", f"days.{kind}", i)
        parts.append(Part(str(p["name"]), start, end, bool(p.get("pause", False))))
    return tuple(parts)


def _hhmm(v: Any) -> dt.timedelta | None:
    if isinstance(v, dt.time):
        return dt.timedelta(hours=v.hour, minutes=v.minute, seconds=v.second)
    if not isinstance(v, str):
        return None
    bits = v.split(":")
    if len(bits) not in (2, 3) or not all(b.isdigit() for b in bits):
        return None
    h, m, s = (int(b) for b in (*bits, "0")[:3])
    if m > 59 or s > 59 or h > 24 or (h == 24 and (m or s)):
        return None
    return dt.timedelta(hours=h, minutes=m, seconds=s)
