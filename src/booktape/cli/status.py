"""`booktape status` and the service options of `record` (`--stale-after`, `--log`, `--metrics`)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from . import cli
from ._options import DURATION

_KEYS = ("stale_after", "log", "metrics")


def service_option_decorators(f: Any) -> Any:
    for opt in reversed([
        click.option("--stale-after", type=DURATION, default="2m", show_default=True,
                     help="A book unchanged this long in an open session is a `stale` event "
                          "(MT5 sources re-subscribe it if ticks kept coming)."),
        click.option("--log", default=None, type=click.Path(dir_okay=False),
                     help="Rotating log file, one line per event (start, seal, stale, restart, "
                          "stop, error...)."),
        click.option("--metrics", default=None, metavar="[HOST:]PORT",
                     help="Serve Prometheus metrics here (a bare port binds 127.0.0.1)."),
    ]):
        f = opt(f)
    return f


def service_kwargs(opts: dict[str, Any]) -> dict[str, Any]:
    """Pop the service options out of a command's keyword arguments into ``record``'s."""
    return {"stale_after": f"{opts.pop('stale_after')}ns", "log_file": opts.pop("log"),
            "metrics": opts.pop("metrics")}


@cli.command()
@click.argument("data", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts and health as JSON.")
def status(data: str, as_json: bool) -> None:
    """Health of every recorder of the tape DATA; exit 1 if one is stale, stuck or dead.

    Reads the health file each recorder rewrites every second
    (DATA/_health/collector=NAME.json). Exit 0 when every live recorder is
    healthy (or draining after its last poll, waiting for its session, or
    stopped cleanly), 1 when one is
    stale, stuck, dead or failed: for cron, Zabbix or a Task Scheduler check.

    Example: booktape status data
    """
    from ..clock import SystemClock
    from ..service.status import status as do_status
    from ._render import render_status

    got = do_status(data, SystemClock().now_ns())
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in got], indent=2, default=str))
    else:
        render_status(got)
    sys.exit(0 if all(s.ok for s in got) else 1)
