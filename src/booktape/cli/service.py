"""``booktape sessions`` and ``booktape config check``: the schedule and the config file."""

from __future__ import annotations

import datetime as dt
import json
import os

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


@cli.group()
def config() -> None:
    """The config file `booktape record --config FILE` runs with.

    Example: booktape config check booktape.toml
    """


@config.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
def config_check(file: str) -> None:
    """Validate config FILE and print the effective record settings (secrets masked).

    Every `record` option can be a key (rotate_every for --rotate-every), in
    sections [mt5], [sim], [thresholds] and [publish] or at the top; flags on
    the command line override the file. Exit 2 names a bad key and its line.

    Example: booktape config check booktape.toml
    """
    from ..service.config import PASSWORD_ENV, PASSWORD_KEY, masked
    from ._config import read_settings
    from ._render_service import render_config
    from .record import record

    ctx = click.Context(record, info_name="record")
    settings = read_settings(file, record, ctx)
    if "session" in settings or "calendar" in settings:
        from ..service.calendar import load_calendar

        load_calendar(settings.get("calendar", settings.get("session")).value)  # type: ignore[union-attr]
    rows = []
    for p in record.params:
        if not p.name or p.name in ("config", "help") or not isinstance(p, click.Option):
            continue
        s = settings.get(p.name)
        if s is not None:
            value, where = s.raw, (f"file, line {s.line}" if s.line else "file")
        else:
            value, where = p.get_default(ctx), "default"
            if value is None or "UNSET" in repr(value):  # click's "not given"
                value = False if p.is_flag else None
        rows.append((p.opts[0], masked(p.name, value), where))
    notes = []
    if PASSWORD_KEY in settings:
        notes.append(f"mt5 password: set in {file} (********); keep the file readable only by you"
                     + (f"; ${PASSWORD_ENV} is also set and wins" if PASSWORD_ENV in os.environ else ""))
    elif PASSWORD_ENV in os.environ:
        notes.append(f"mt5 password: from ${PASSWORD_ENV} (********)")
    for name in sorted(k for k in os.environ if k.startswith("BOOKTAPE_NATS_")):
        notes.append(f"{name}: set (********)" if any(w in name for w in ("PASSWORD", "TOKEN"))
                     else f"{name}: {os.environ[name]}")
    render_config(file, rows, notes)
