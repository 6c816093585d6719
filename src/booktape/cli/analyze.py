"""``booktape analyze``, ``verify`` and ``heatmap``: capture quality and integrity (issue 5)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import cli


def _dump(obj: object) -> str:
    return json.dumps(obj, default=str, indent=1)


@cli.command()
@click.argument("data", type=click.Path())
@click.option("--symbol", default=None, help="Only this symbol.")
@click.option("--collector", default=None, help="Only this collector.")
@click.option("--start", default=None, help="From this time (ISO, UTC unless an offset is given).")
@click.option("--end", default=None, help="Until this time (exclusive).")
@click.option("--stall-factor", default=10.0, show_default=True,
              help="A gap is a stall when over this many times the median.")
@click.option("--stall-min", default="50ms", show_default=True,
              help="... and longer than this.")
@click.option("--html", "html_out", default=None, type=click.Path(),
              help="Write one self-contained HTML page with the tables and plots.")
@click.option("--png", "png_dir", default=None, type=click.Path(),
              help="Write the plots as PNG files into this directory.")
@click.option("--compare", "other", default=None, type=click.Path(),
              help="Instead: compare DATA with tape OTHER state by state (e.g. a sink's tape "
                   "with a recorder's local one); exits 1 when they differ.")
@click.option("--blind-min", default="1ms", show_default=True,
              help="A state's blind_ns marks a blind spot when over this and 10 x the median.")
@click.option("--by", "by", default=None,
              help="Also give the guaranteed lifetime per bin of this length, e.g. 1min.")
@click.option("--session", default=None,
              help="Trading calendar (e.g. moex-forts): closed hours and scheduled pauses are "
                   "not stalls, gaps or blind spots; one row per session. Default: the "
                   "recorder's session_open events, if any.")
@click.option("--calendar", default=None, type=click.Path(dir_okay=False),
              help="A calendar TOML file instead of --session's.")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
@click.option("--skip-damaged", is_flag=True,
              help="Leave out parts and journal batches that fail their checksum (and say so) "
                   "instead of refusing.")
@click.option("--strict", is_flag=True,
              help="Refuse a tape with damaged manifest lines or parts no manifest lists.")
def analyze(data: str, symbol: str | None, collector: str | None, start: str | None,
            end: str | None, stall_factor: float, stall_min: str, html_out: str | None,
            png_dir: str | None, other: str | None, blind_min: str, by: str | None,
            session: str | None, calendar: str | None,
            as_json: bool, skip_damaged: bool, strict: bool) -> None:
    """Report the capture quality of tape DATA (or a folder of the notebook's CSVs).

    Per symbol and collector, one row per snapshot: polls, states, change rate,
    poll duration and gap percentiles, stalls, time order, seq continuity,
    events and parts; the guaranteed lifetime B (every state that lasted
    longer than B was recorded, from blind_ns) per session and hour (and per
    --by bin) and the blind spots. Exits 1 when loss, duplicates or disorder
    were found.

    Example: booktape analyze data --html report.html
    """
    if other is not None:
        _compare(data, other, symbol, collector, as_json)
        return
    from ..analysis.report import report
    from ..outpaths import check_out_dir, check_out_file

    if html_out is not None:
        check_out_file(html_out, "--html")
    if png_dir is not None:
        check_out_dir(png_dir, "--png")

    windows = None
    if session is not None or calendar is not None:
        from ..service.calendar import load_calendar
        from ..service.windows import windows_between

        cal = load_calendar(calendar if calendar is not None else str(session))
        windows = windows_between(cal)
    rep = report(data, symbol, collector, start, end, stall_factor=stall_factor,
                 stall_min=stall_min, skip_damaged=skip_damaged, strict=strict, windows=windows,
                 blind_min=blind_min, by=by)
    pngs: dict[str, bytes] = {}
    if png_dir or html_out:
        from ..analysis.plots import report_pngs

        pngs = report_pngs(rep)
    written = []
    if png_dir:
        d = Path(png_dir)
        d.mkdir(parents=True, exist_ok=True)
        for name, b in pngs.items():
            (d / name).write_bytes(b)
            written.append(str(d / name))
    if html_out:
        from ..analysis.report_html import report_html

        Path(html_out).write_text(report_html(rep, pngs), encoding="utf-8")
    if as_json:
        click.echo(_dump(rep.to_dict()))
    else:
        from ._render_analysis import render_report

        render_report(rep.tables(), rep.ok, [f"{r.symbol}/{r.collector}: {r.order.explanation}"
                                             for r in rep.streams], written, html_out)
    if not rep.ok:
        raise click.exceptions.Exit(1)


def _compare(data: str, other: str, symbol: str | None, collector: str | None,
             as_json: bool) -> None:
    from ..analysis.compare import compare_tapes
    from ._render_compare import render_comparison

    cmp = compare_tapes(data, other, symbol, collector)
    if as_json:
        click.echo(_dump(cmp.to_dict()))
    else:
        render_comparison(cmp)
    if not cmp.equal:
        raise click.exceptions.Exit(1)


@cli.command()
@click.argument("data", type=click.Path())
@click.option("--symbol", default=None, help="Only this symbol.")
@click.option("--collector", default=None, help="Only this collector.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--repair", is_flag=True,
              help="First rebuild damaged manifests from the parts (each part checked "
                   "against its own metadata and page checksums); the old one is kept.")
def verify(data: str, symbol: str | None, collector: str | None, as_json: bool,
           repair: bool) -> None:
    """Check every part of tape DATA against its manifest, and seq continuity.

    Checksums, row counts, schema, seq and time ranges, seq within and across
    parts, journals batch by batch, quarantined journals, journals left
    unsealed, files no manifest lists. Lists problems with file names; exits 1 on any.

    Example: booktape verify data --repair
    """
    from ..analysis.verify import verify as do_verify
    from ._render_analysis import render_verify

    res = do_verify(data, symbol, collector, repair=repair)
    if not as_json:
        for line in res.repairs:
            click.echo(f"repaired {line}")
    if as_json:
        click.echo(_dump(res.to_dict()))
    else:
        render_verify(res)
    if not res.ok:
        raise click.exceptions.Exit(1)


@cli.command()
@click.argument("data", type=click.Path())
@click.option("--symbol", required=True, help="The symbol to draw.")
@click.option("--collector", default=None, help="Collector to draw (default: the first).")
@click.option("--start", default=None, help="Window start (default: the tape's first state).")
@click.option("--end", default=None, help="Window end (default: start + --window).")
@click.option("--window", default="15m", show_default=True, help="Window length.")
@click.option("--png", "png_out", default=None, type=click.Path(), help="Write the PNG here.")
@click.option("--html", "html_out", default=None, type=click.Path(),
              help="Write a self-contained, zoomable HTML page here.")
@click.option("--tz", default="UTC", show_default=True,
              help="Time zone of the time axis, e.g. Europe/Moscow (the exchange's).")
def heatmap(data: str, symbol: str, collector: str | None, start: str | None, end: str | None,
            window: str, png_out: str | None, html_out: str | None, tz: str) -> None:
    """Draw resting volume by price over time for SYMBOL in tape DATA.

    Colour = volume at each price (white = no volume), best bid and ask drawn
    over it, trades marked when a ticks stream exists. Prices are zoomed to
    the range the best bid and ask took; a column spanning over a second shows
    the average book of its states. Without --png/--html writes heatmap-SYMBOL.png.

    Example: booktape heatmap data --symbol RIU2 --start 2026-11-26T10:00 --png riu2.png
    """
    from ..analysis.heatmap import check_tz, heatmap_html, heatmap_png
    from ..analysis.heatmap import heatmap as do_heatmap
    from ..outpaths import check_out_file

    check_tz(tz)
    if not png_out and not html_out:
        png_out = f"heatmap-{symbol}.png"
    for opt, path in (("--png", png_out), ("--html", html_out)):
        if path is not None:
            check_out_file(path, opt)
    h = do_heatmap(data, symbol, collector, start, end, window=window)
    png = heatmap_png(h, tz=tz) if png_out else None
    if png_out and png is not None:
        Path(png_out).write_bytes(png)
        click.echo(f"wrote {png_out} ({h.snapshots:,} states, {h.rows:,} rows)")
    if html_out:
        Path(html_out).write_text(heatmap_html(h, tz=tz), encoding="utf-8")
        click.echo(f"wrote {html_out}")


@cli.command()
@click.argument("data", type=click.Path())
@click.option("--sim-log", "sim_log", required=True, type=click.Path(),
              help="The truth file `record --sim-log FILE` wrote for the recording.")
@click.option("--symbol", default=None, help="Only this symbol.")
@click.option("--collector", default=None, help="Only this collector.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
def truth(data: str, sim_log: str, symbol: str | None, collector: str | None,
          as_json: bool) -> None:
    """Score tape DATA against the simulated market's true timeline.

    Per symbol and collector (and the union of collectors): true states,
    stored, missed, missed by lifetime (<100us, <1ms, <10ms, >=10ms), and every
    missed state checked against the blind_ns bound covering it. Exits 1 and
    names the state when a missed state outlived its bound.

    Example: booktape truth data --sim-log truth.json
    """
    from ..analysis.truth import score_truth
    from ._render_analysis import render_truth

    rep = score_truth(data, sim_log, symbol, collector)
    if as_json:
        click.echo(_dump(rep.as_dict()))
    else:
        render_truth(rep)
    if not rep.ok:
        raise click.exceptions.Exit(1)
