"""``booktape bench``: every topology × memory threshold × source latency, ranked."""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import BadArgument
from . import cli
from .mt5 import mt5_option_decorators, mt5_source_options


@cli.command()
@click.option("--source", default="sim", show_default=True,
              help="Where books come from: sim, mt5 or mt5linux (with the --mt5-* options).")
@click.option("--symbol", default="RIU2", show_default=True, help="Symbol to poll.")
@click.option("--topologies", default="all", show_default=True,
              help="'all' or a comma list of topologies; 'notebook' is the original loop.")
@click.option("--thresholds", default="16MB,256MB", show_default=True,
              help="Memory thresholds (segment size that triggers a seal), e.g. 16MB,256MB,1GB.")
@click.option("--latency", default=None,
              help="Sim call latencies, e.g. 0,80us,500us (default 0,80us; sim only).")
@click.option("--duration", default=None, help="Length of each run, e.g. 30s (default 10s).")
@click.option("--polls", type=int, default=None, help="Polls per run instead of --duration.")
@click.option("--repeat", type=int, default=3, show_default=True,
              help="Runs per combination (interleaved rounds; medians are reported).")
@click.option("--out", default="bench", show_default=True, help="Directory for the results.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the run order.")
@click.option("--sim-rate", type=float, default=None,
              help="Book changes/s of the sim when it runs in real time (latency 0; default 300).")
@click.option("--keep-runs", is_flag=True, help="Keep each run's tape under OUT/_runs.")
@click.option("--compare", nargs=2, type=click.Path(), default=None, metavar="OLD NEW",
              help="Compare two result directories instead of running.")
@click.option("--collectors", type=int, default=1, show_default=True,
              help="2: after each run, two collectors poll one shared sim market side by side "
                   "(same round), and the union is scored against the sim's truth.")
@click.option("--json", "as_json", is_flag=True, help="Print the ranked rows as JSON.")
@mt5_option_decorators
def bench(source: str, symbol: str, topologies: str, thresholds: str, latency: str | None,
          duration: str | None, polls: int | None, repeat: int, out: str, seed: int,
          sim_rate: float | None, keep_runs: bool, compare: tuple[str, str] | None,
          collectors: int, as_json: bool, **mt5: Any) -> None:
    """Run the notebook's latency experiment: every topology x memory threshold x source
    latency, each in a fresh process, ranked by gap range and p99.9, lossy runs disqualified.

    Writes OUT/results.csv, results.json, gaps.png, p999.png and report.html.

    Example: booktape bench --topologies sequential,ring,notebook --duration 10s --repeat 3
    """
    from .. import bench as lib
    from ..outpaths import check_out_dir
    from ._render_bench import BenchProgress, render_bench, render_compare

    if compare:
        res = lib.compare(*compare)
        if as_json:
            from ..bench.report import _clean

            click.echo(json.dumps(_clean(res), indent=1))
        else:
            render_compare(res)
        return
    check_out_dir(out, "--out")
    if mt5.pop("ticks", False):
        raise BadArgument("--ticks is not measured by the bench; drop it")
    opts = mt5_source_options(source, **mt5)
    if sim_rate is not None:
        if source != "sim" or sim_rate <= 0:
            raise BadArgument(f"invalid --sim-rate {sim_rate}: must be positive, with --source sim")
        opts["rate"] = sim_rate
    cfg = lib.make_config(source=source, source_options=opts, symbol=symbol, topologies=topologies,
                          thresholds=thresholds, latency=latency, duration=duration, polls=polls,
                          repeat=repeat, seed=seed, collectors=collectors)
    from ..bench.run import probe_source

    probe_source(cfg)  # before the progress bar: a missing source is one line, at once
    with BenchProgress(quiet=as_json) as progress:
        lib.run_bench(cfg, out, on_progress=progress.update, keep_runs=keep_runs, probe=False)
    doc = lib.load_results(out)
    if as_json:
        click.echo(json.dumps({k: doc[k] for k in ("recommendations", "rows")}, indent=1))
    else:
        render_bench(doc, out)
