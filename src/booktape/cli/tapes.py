"""``booktape ls``, ``export`` and ``recover``: commands over a tape directory."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import cli


@cli.command("ls")
@click.argument("data", type=click.Path())
@click.option("--symbol", default=None, help="Only this symbol.")
@click.option("--collector", default=None, help="Only this collector.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
def ls_cmd(data: str, symbol: str | None, collector: str | None, as_json: bool) -> None:
    """List the sealed parts and open journals of tape DATA.

    Shows symbol, collector, rows, snapshots, seq range, time range and size,
    then the count of recorded events (disconnects, spills, restarts...).

    Example: booktape ls data
    """
    from ..read.listing import event_counts, list_tape
    from ..tape.tape import Tape
    from ._render import render_ls

    tape = Tape.of(data)
    rows = list_tape(tape, symbol, collector)
    if as_json:
        for r in rows:
            click.echo(json.dumps(r))
    else:
        render_ls(rows, event_counts(tape, collector))
    if any(r.get("damaged") for r in rows):
        raise click.exceptions.Exit(1)  # damage found (listed above)


@cli.command()
@click.argument("data", type=click.Path())
@click.option("--csv", "csv_out", required=True, type=click.Path(), help="CSV file to write.")
@click.option("--symbol", default=None, help="Only this symbol.")
@click.option("--collector", default=None, help="Only this collector.")
@click.option("--start", default=None, help="From this time (ISO, UTC unless an offset is given).")
@click.option("--end", default=None, help="Until this time (exclusive).")
@click.option("--tz", default="UTC", show_default=True, help="Time zone of the CSV's times.")
@click.option("--skip-damaged", is_flag=True,
              help="Leave out parts and journal batches that fail their checksum (and say so) "
                   "instead of refusing.")
@click.option("--strict", is_flag=True,
              help="Refuse a tape with damaged manifest lines or parts no manifest lists.")
def export(data: str, csv_out: str, symbol: str | None, collector: str | None,
           start: str | None, end: str | None, tz: str, skip_damaged: bool,
           strict: bool) -> None:
    """Export tape DATA to a CSV with the notebook's columns.

    Columns: level index, type, price, volume, volume_dbl, time_after,
    time_before, name (the collector).

    Example: booktape export data --csv book.csv --symbol RIU2
    """
    from ..read.export import export_csv

    n = export_csv(data, csv_out, symbol, collector, start, end, tz, strict=strict,
                   skip_damaged=skip_damaged)
    click.echo(f"wrote {n:,} rows to {csv_out}")


@cli.command()
@click.argument("data", type=click.Path())
@click.option("--collector", default=None, help="Only this collector's journals.")
def recover(data: str, collector: str | None) -> None:
    """Seal journals that a killed recorder left in tape DATA.

    Book journals, and the trades and server-time journals of `--ticks`.
    A torn last batch is cut off; everything before it is kept. A batch that
    fails its checksum is left out and its journal kept aside as
    `_part-N.arrows.quarantined` with a report (exit 1). Spill files of killed
    sessions are replayed into parts, then removed. Journals of a collector
    whose recorder is still running are left alone.

    Example: booktape recover data
    """
    from ..clock import SystemClock
    from ..errors import TapeDamaged, TapeNotFound
    from ..tape.recover import recover as do_recover
    from ..transport.spill_replay import replay_spills

    root = Path(data)
    if not root.is_dir():
        raise TapeNotFound(f"no tape at {root}")
    now = SystemClock().now_ns()
    done = do_recover(root, now, collector)
    spills = replay_spills(root, now, collector)
    if not done and not spills:
        click.echo("nothing to recover")
    for s in spills:
        click.echo(f"spill file {s.describe()}")
    for r in done:
        e = r.entry
        if e is None and r.quarantine is None:
            click.echo(f"{r.journal}: empty, removed")
        elif e is not None:
            torn = " (torn tail cut)" if e.torn_tail else ""
            click.echo(f"{r.journal} -> {e.part}: {e.rows:,} rows, seq {e.seq_min}..{e.seq_max}{torn}")
        if r.quarantine is not None:
            click.echo(f"{r.journal}: damaged, kept as {r.quarantine.path.name} "
                       f"(report {r.quarantine.report.name}): {r.quarantine.describe()}")
    bad = [r for r in done if r.quarantine is not None]
    if any(s.damaged or s.kept for s in spills):
        raise TapeDamaged("spill files with damage or of unknown sessions (see above)")
    if bad:
        raise TapeDamaged(f"{len(bad)} journal(s) had damaged batches; every batch that "
                          "verified was sealed, the damaged ones were kept aside (see above)")
