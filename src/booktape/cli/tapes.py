"""``booktape ls``, ``export`` and ``recover``: commands over a tape directory."""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path
from typing import BinaryIO

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
@click.option("--view", default=None, help="levels, quotes or topN (top5, top10...). [default: levels]")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet", "jsonl"]), default=None,
              help="Output format. [default: from --out's suffix, else csv]")
@click.option("--out", "out", default=None, type=click.Path(allow_dash=True),
              help="File to write the view to; - for standard output.")
@click.option("--csv", "csv_out", default=None, type=click.Path(allow_dash=True),
              help="Write the notebook's CSV instead (its columns); - for standard output.")
@click.option("--symbol", default=None, help="Only this symbol.")
@click.option("--collector", default=None, help="Only this collector.")
@click.option("--start", default=None, help="From this time (ISO, UTC unless an offset is given).")
@click.option("--end", default=None, help="Until this time (exclusive).")
@click.option("--tz", default="UTC", show_default=True,
              help="Time zone of the times in CSV and JSON lines.")
@click.option("--skip-damaged", is_flag=True,
              help="Leave out parts and journal batches that fail their checksum (and say so) "
                   "instead of refusing.")
@click.option("--strict", is_flag=True,
              help="Refuse a tape with damaged manifest lines or parts no manifest lists.")
def export(data: str, view: str | None, fmt: str | None, out: str | None, csv_out: str | None,
           symbol: str | None, collector: str | None, start: str | None, end: str | None,
           tz: str, skip_damaged: bool, strict: bool) -> None:
    """Export a view of tape DATA as CSV, Parquet or JSON lines.

    Views: levels (every level row, with side, depth and UTC times), quotes
    (best bid/ask, mid and spread per state), topN (best N levels a side per
    state, wide: bid_price_0.., bid_volume_0.., ask_price_0.., ask_volume_0..).
    --csv writes the notebook's CSV (level index, type, price, volume,
    volume_dbl, time_after, time_before, name). With - the output streams to
    standard output; a closed pipe (| head) ends quietly.

    Example: booktape export data --view quotes --format csv --out - | head
    """
    from ..errors import BadArgument
    from ..read.export import export_csv, export_view

    if (out is None) == (csv_out is None):
        raise BadArgument("give one of --out FILE (a view) or --csv FILE (the notebook's CSV)")
    if csv_out is not None and (view or fmt):
        raise BadArgument("--view and --format go with --out; --csv writes the notebook's CSV")
    target = csv_out if csv_out is not None else out
    assert target is not None
    sink: str | BinaryIO = sys.stdout.buffer if target == "-" else target
    try:
        if csv_out is not None:
            n = export_csv(data, sink, symbol, collector, start, end, tz, strict=strict,
                           skip_damaged=skip_damaged)
        else:
            fmt = fmt or {".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}.get(
                Path(target).suffix.lower(), "csv")
            n = export_view(data, sink, view or "levels", fmt, symbol, collector, start, end, tz,
                            strict=strict, skip_damaged=skip_damaged)
    except OSError as e:
        # Windows reports a write into a pipe its reader closed as EINVAL, not EPIPE.
        closed = isinstance(e, BrokenPipeError) or (
            os.name == "nt" and target == "-" and e.errno in (errno.EINVAL, errno.EPIPE))
        if not closed:
            raise
        # The reader (e.g. `head`) has what it wanted: end quietly, and keep
        # Python's exit-time flush of stdout from complaining about the pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    # Into a pipe or device (`-`, /dev/stdout) the data owns stdout: report on stderr.
    to_file = target != "-" and os.path.isfile(target)
    click.echo(f"wrote {n:,} rows to {target if to_file else 'standard output'}", err=not to_file)


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
        from ..tape.foreign import unlisted_parts

        # "Nothing to recover" must not hide a file verify flagged (issue 14).
        others = [u for u in unlisted_parts(root, collector=collector) if not u.recoverable]
        click.echo("nothing to recover" + ("; but:" if others else ""))
        for u in others:
            click.echo(f"  {u.path}: {u.what}")
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
