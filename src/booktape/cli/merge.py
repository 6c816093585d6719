"""``booktape merge``: align redundant collectors and write one merged tape."""

from __future__ import annotations

import json

import click

from . import cli


@cli.command()
@click.argument("data", type=click.Path())
@click.option("--collectors", required=True,
              help="Collectors to merge, comma-separated; the first one's clock is the reference.")
@click.option("--out", required=True, type=click.Path(), help="Directory of the merged tape.")
@click.option("--symbol", default=None, help="Symbol (needed if the collectors share several).")
@click.option("--offset", default=None,
              help="Clock offset of the other collectors: auto (measure from the data), "
                   "a duration such as 250ms or -3ms, or one=250ms,two=-1ms. Default: same clock.")
@click.option("--tolerance", default=None,
              help="Disagreements shorter than this are poll timing, not conflicts "
                   "(default: from the measured poll timing).")
@click.option("--name", default="merged", show_default=True,
              help="Collector name of the merged tape.")
@click.option("--dry-run", is_flag=True, help="Report only; write nothing.")
@click.option("--force", is_flag=True,
              help="Replace a merged tape of this --name already in OUT.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def merge(data: str, collectors: str, out: str, symbol: str | None, offset: str | None,
          tolerance: str | None, name: str, dry_run: bool, force: bool, as_json: bool) -> None:
    """Merge redundant collectors of one symbol in tape DATA into one tape.

    States are matched by book content (the collectors' seq numbers are
    independent) and time. Reports states seen by all, states a collector
    missed (with times), the clock offset between collectors, and conflicts:
    collectors holding different books at the same time for longer than poll
    timing explains (possible corruption). Writes OUT/symbol=S/date=D/
    collector=merged/: every distinct state once, by t_mid, with a seen_by
    bitmask. Streams a full day in bounded memory (a progress bar on stderr).
    Exit code 1 when conflicts are found, 0 otherwise; collectors that share
    no state over the same time are bad input (exit 2).

    Example: booktape merge data --collectors zero,one --out merged --offset auto
    """
    from ..outpaths import check_out_dir
    from ..read.merge import merge as do_merge
    from ._render import render_merge
    from ._render_progress import StatesProgress

    if not dry_run:
        check_out_dir(out, "--out")
    with StatesProgress(quiet=as_json) as progress:
        r = do_merge(data, collectors, out, symbol, offset=offset, tolerance=tolerance,
                     name=name, write=not dry_run, force=force, progress=progress.update)
    if as_json:
        click.echo(json.dumps(r.to_dict()))
    else:
        render_merge(r)
    if not r.ok:
        click.get_current_context().exit(1)
