"""Tables for ``booktape sessions`` and ``booktape config check``."""

from __future__ import annotations

import datetime as dt

from rich.table import Table

from ..service.calendar import Calendar, Window
from ._render import console


def render_sessions(cal: Calendar, first: dt.date, days: int, windows: list[Window]) -> None:
    last = first + dt.timedelta(days=days - 1)
    t = Table(title=f"{cal.name}: trading windows {first} … {last} "
                    f"(exchange time {cal.tz.key}, and UTC)", title_justify="left")
    for col in ("date", "day", "calendar", "open", "close", "open UTC", "close UTC", "parts"):
        t.add_column(col)
    for w in windows:
        u = dt.UTC
        t.add_row(w.date.isoformat(), f"{w.date:%a} {w.day}", w.calendar,
                  f"{w.open:%H:%M}", f"{w.close:%H:%M}",
                  f"{w.open.astimezone(u):%Y-%m-%d %H:%M}", f"{w.close.astimezone(u):%H:%M}",
                  ", ".join(dict.fromkeys(p[0] for p in w.parts)))
    console.print(t)
    closed = days - len({w.date for w in windows})
    console.print(f"{len(windows)} windows; {closed} of {days} dates without trading")


def render_config(file: str, rows: list[tuple[str, object, str]], notes: list[str]) -> None:
    t = Table(title=f"{file}: valid. Effective `booktape record` settings (flags override them)",
              title_justify="left")
    for col in ("option", "value", "from"):
        t.add_column(col)
    for name, value, where in rows:
        shown = ", ".join(map(str, value)) if isinstance(value, (tuple, list)) else value
        t.add_row(name, "" if shown is None else str(shown),
                  "[dim]default[/]" if where == "default" else where)
    console.print(t)
    for n in notes:
        console.print(n)
