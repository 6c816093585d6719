"""``booktape record`` and ``booktape snapshot``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ..errors import BadArgument
from ..transport import DEFAULT_TOPOLOGY, topology_names
from ..units import parse_anchor
from . import cli
from ._config import config_option
from ._options import DURATION, SIZE
from .bus import publish_kwargs, publish_option_decorators
from .mt5 import mt5_option_decorators, mt5_source_options
from .status import service_kwargs, service_option_decorators


def sim_options(latency: int | None, seed: int | None, rate: float | None, levels: int | None,
                lockstep: bool, source: str) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if latency is not None:
        opts["latency_ns"] = latency
    if seed is not None:
        opts["seed"] = seed
    if rate is not None:
        if rate <= 0:
            raise BadArgument(f"invalid --sim-rate {rate}: must be positive")
        opts["rate"] = rate
    if levels is not None:
        if not 1 <= levels <= 500:
            raise BadArgument(f"invalid --sim-levels {levels}: must be 1..500")
        opts["levels"] = levels
    if lockstep:
        opts["lockstep"] = True
    if opts and source != "sim":
        raise BadArgument("--sim-* options apply only to --source sim")
    return opts


def sim_option_decorators(f: Any) -> Any:
    for opt in reversed([
        click.option("--sim-latency", type=DURATION, default=None,
                     help="Emulated call latency of the sim, e.g. 80us."),
        click.option("--sim-seed", type=int, default=None, help="Seed of the sim (default 1)."),
        click.option("--sim-rate", type=float, default=None,
                     help="Mean book changes per second of the sim (default 300)."),
        click.option("--sim-levels", type=int, default=None, help="Levels per side (default 20)."),
        click.option("--sim-lockstep", is_flag=True,
                     help="Advance the sim a seeded number of events per call (reproducible)."),
    ]):
        f = opt(f)
    return f


@cli.command()
@config_option
@click.option("--source", default="sim", show_default=True, help="Where books come from.")
@click.option("--symbol", "symbols", multiple=True, default=["RIU2"], show_default=True,
              help="Symbol to record; repeat for several (polled round-robin).")
@click.option("--out", default="data", show_default=True, help="Tape directory.")
@click.option("--duration", default=None, help="How long to record, e.g. 20s, 10m, 8h.")
@click.option("--until", default=None, help="Record until this local time, e.g. 23:50.")
@click.option("--polls", type=int, default=None, help="Stop after this many polls.")
@click.option("--interval", type=DURATION, default="0", show_default=True,
              help="Pause between polls, e.g. 50ms; 0 = as fast as the source allows.")
@click.option("--collector", default="zero", show_default=True,
              help="This recorder's name; run several with different names for redundancy.")
@click.option("--rotate-every", default="1h", show_default=True, type=DURATION,
              help="Seal a segment after this long.")
@click.option("--rotate-bytes", default="1GB", show_default=True, type=SIZE,
              help="Seal a segment when its data reaches this size (the memory threshold).")
@click.option("--keep-unchanged", is_flag=True, help="Store every poll, not only changed books.")
@click.option("--topology", type=click.Choice(topology_names()), default=DEFAULT_TOPOLOGY,
              show_default=True, help="How polling and storage are split across processes.")
@click.option("--sync-every", default="1s", show_default=True, type=DURATION,
              help="fsync the journal this often (the most a power cut can lose).")
@sim_option_decorators
@mt5_option_decorators
@publish_option_decorators
@service_option_decorators
@click.option("--sim-anchor", default=None,
              help="Wall time the sim's market starts (HH:MM[:SS] today, or ISO): recorders "
                   "given the same seed and anchor see one shared market (redundant collectors).")
@click.option("--sim-log", default=None, type=click.Path(),
              help="Write the sim's ground truth (states served per call) to this JSON file.")
@click.option("--session", default=None,
              help="Record by a trading calendar (e.g. moex-forts): wait for each session, "
                   "seal at its close and pauses, go on to the next day (`booktape sessions`).")
@click.option("--calendar", default=None, type=click.Path(dir_okay=False),
              help="A calendar TOML file (a copy of a built-in one, edited) instead of --session's.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", is_flag=True, help="No live status line.")
def record(source: str, symbols: tuple[str, ...], out: str, duration: str | None,
           until: str | None, polls: int | None, interval: int, collector: str,
           rotate_every: int, rotate_bytes: int, keep_unchanged: bool, topology: str,
           sync_every: int, sim_anchor: str | None, sim_log: str | None, sim_latency: int | None, sim_seed: int | None, sim_rate: float | None,
           sim_levels: int | None, sim_lockstep: bool, session: str | None, calendar: str | None,
           as_json: bool, quiet: bool, **mt5: Any) -> None:
    """Record order books until --duration/--until/--polls or Ctrl-C, then seal and summarise.

    Ctrl-C (or SIGTERM) stops polling, seals every segment and prints the
    summary; a second Ctrl-C exits at once, leaving journals that
    `booktape recover` seals.

    With --session the recorder runs unattended: it waits for each session of
    the calendar, records through it, seals at its close, and waits for the
    next trading day; --duration/--until end the whole run.

    Example: booktape record --symbol RIU2 --out data --duration 20s
    """
    from ..capture.stats import Stats
    from ..record import record as do_record
    from ._render import StatusLine, render_summary

    publish = publish_kwargs(mt5)
    publish.update(service_kwargs(mt5))
    opts = sim_options(sim_latency, sim_seed, sim_rate, sim_levels, sim_lockstep, source)
    opts.update(mt5_source_options(source, **mt5))
    if sim_anchor:
        if source != "sim":
            raise BadArgument("--sim-anchor applies only to --source sim")
        opts["anchor_ns"] = parse_anchor(sim_anchor)
    if sim_log:
        if source != "sim":
            raise BadArgument("--sim-log applies only to --source sim")
        opts["log_path"] = sim_log
    kwargs: dict[str, Any] = dict(sync_every=f"{sync_every}ns",
        source=source, source_options=opts, duration=duration, until=until, polls=polls,
        # DURATION options arrive as int ns; the library reads bare numbers as seconds.
        interval=f"{interval}ns", collector=collector, rotate_every=f"{rotate_every}ns",
        rotate_bytes=rotate_bytes, keep_unchanged=keep_unchanged, topology=topology,
        session=session, calendar=calendar, **publish)
    if session or calendar:
        _say_schedule()  # on stderr: stdout stays the summary (--json)
    if quiet or as_json:
        summary = do_record(out, list(symbols), **kwargs)
    else:
        stats = Stats()
        with StatusLine(stats):
            summary = do_record(out, list(symbols), stats=stats, **kwargs)
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2, default=str))
    else:
        render_summary(summary)
    sys.exit(0 if summary.ok else 1)


def _say_schedule() -> None:
    # The scheduler's waits and opens are what an unattended user looks for on stderr.
    import logging

    lg = logging.getLogger("booktape.service.schedule")
    if not lg.handlers:
        h = logging.StreamHandler()
        h.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        lg.addHandler(h)
        lg.setLevel(logging.INFO)


@cli.command()
@click.argument("symbol")
@click.option("--source", default="sim", show_default=True,
              help="Where the book comes from: sim, mt5 or mt5linux (with the --mt5-* options).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the book as JSON: levels, best bid and ask, spread.")
@sim_option_decorators
@mt5_option_decorators
def snapshot(symbol: str, source: str, as_json: bool, sim_latency: int | None,
             sim_seed: int | None, sim_rate: float | None, sim_levels: int | None,
             sim_lockstep: bool, **mt5: Any) -> None:
    """Print the current order book of SYMBOL as a table (side, price, volume) with its spread.

    Example: booktape snapshot RIU2 --source mt5linux --mt5-port 18812
    """
    from ..snapshot import book_dict
    from ..snapshot import snapshot as do_snapshot
    from ._render import render_book

    if mt5.pop("ticks", False):
        raise BadArgument("--ticks applies to record, not snapshot")
    opts = sim_options(sim_latency, sim_seed, sim_rate, sim_levels, sim_lockstep, source)
    opts.update(mt5_source_options(source, **mt5))
    book, t = do_snapshot(symbol, source, opts)
    d = book_dict(symbol, book, t)
    if as_json:
        click.echo(json.dumps(d, indent=1))
    else:
        render_book(symbol, book, t, d)
