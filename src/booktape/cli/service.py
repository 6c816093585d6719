"""``booktape sessions`` and ``booktape config check``: the schedule and the config file."""

from __future__ import annotations

import datetime as dt
import json

import click

from ..errors import BadArgument
from . import cli


@cli.command()
@click.argument("calendar")
@click.option("--from", "start", default=None,
              help="First exchange-local date (YYYY-MM-DD); default today on the exchange.")
@click.option("--days", type=click.IntRange(1, 3660), default=7, show_default=True,
              help="How many dates to list.")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON list, one object per window (date, open, close in ISO 8601 "
                   "with the exchange's UTC offset, their UTC times, parts).")
def sessions(calendar: str, start: str | None, days: int, as_json: bool) -> None:
    """Print the trading windows of CALENDAR (a built-in name or a TOML file) in exchange time and UTC.

    Built in: moex-forts (from 2026-03-23; earlier dates follow moex-forts-2025),
    moex-forts-2025, always. Copy one (they are in booktape/service/calendars/),
    edit it and pass the file here or to `booktape record --calendar FILE`.

    Example: booktape sessions moex-forts --from 2026-03-23 --days 7
    """
    from ..clock import SystemClock
    from ..service.calendar import load_calendar
    from ._render_service import render_sessions

    cal = load_calendar(calendar)
    if start is None:
        first = dt.datetime.fromtimestamp(SystemClock().now_ns() / 1e9, tz=cal.tz).date()
    else:
        try:
            first = dt.date.fromisoformat(start)
        except ValueError:
            raise BadArgument(f"invalid --from {start!r}: use a date like 2026-03-23") from None
    windows = cal.windows(first, days)
    if as_json:
        click.echo(json.dumps([w.as_dict() for w in windows], indent=2))
    else:
        render_sessions(cal, first, days, windows)
