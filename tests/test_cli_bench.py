"""``booktape bench``: a short real bench, its files and plots, ``--compare``, bad input."""

from __future__ import annotations

import csv
import json
import shutil

import matplotlib.image as mpimg
import pytest
from click.testing import CliRunner

from booktape.cli import cli
from booktape.transport import DEFAULT_TOPOLOGY

TOPOS = ["sequential", DEFAULT_TOPOLOGY, "notebook"]


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    """Sub-second runs, thresholds small enough that every booktape run seals several times."""
    out = tmp_path_factory.mktemp("bench") / "b"
    r = CliRunner().invoke(cli, ["bench", "--topologies", ",".join(TOPOS), "--thresholds",
                                 "64KB,256KB", "--latency", "80us", "--duration", "0.6s",
                                 "--repeat", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out, r.output


def test_bench_writes_results_that_parse(bench_dir):
    out, output = bench_dir
    doc = json.loads((out / "results.json").read_text())
    assert len(doc["runs"]) == 6 and not [x for x in doc["runs"] if x["error"]]
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert {(r["topology"], r["threshold"]) for r in rows} == {
        (t, str(th)) for t in TOPOS for th in (64 << 10, 256 << 10)}
    for r in doc["rows"]:
        assert r["lost"] == 0 and r["duplicated"] == 0 and not r["disqualified"]
        assert r["expected"] > 0 and r["snapshots"] == r["expected"]
        assert r["polls_s"] > 0 and r["gap_p50_us"] > 0 and r["gap_p999_us"] >= r["gap_p50_us"]
        assert r["cpu_s"] > 0 and r["rss_mb"] > 10 and r["bytes_per_row"] > 0
        if r["topology"] != "notebook":
            # the thresholds really exercised rotation, and seal gaps are reported apart
            assert r["seals"] >= 2 and r["durable_p50_ms"] > 0
        if r["topology"] == "sequential":
            # it seals inline, between two polls: those gaps are the seal-window ones
            assert r["seal_gaps"] >= 1 and r["seal_gap_max_us"] >= r["gap_p99_us"]
    (rec,) = doc["recommendations"]
    assert rec.startswith("At 80 µs source latency, use `") and "no loss" in rec
    flat = " ".join(output.split())  # rich wraps long lines
    assert " ".join(rec.split()) in flat and "results.csv" in flat


def test_bench_plots_are_images_and_the_html_embeds_them(bench_dir):
    out, _ = bench_dir
    for name in ("gaps.png", "p999.png"):
        img = mpimg.imread(out / name)
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2
    assert "notebook" in html and "p99.9" in html


def test_bench_compare_shows_changes_and_new_losses(bench_dir, tmp_path):
    out, _ = bench_dir
    new = tmp_path / "new"
    shutil.copytree(out, new)
    doc = json.loads((new / "results.json").read_text())
    for r in doc["rows"]:
        if r["topology"] == "sequential":
            r["lost"], r["disqualified"], r["polls_s"] = 5, True, r["polls_s"] * 2
    (new / "results.json").write_text(json.dumps(doc))
    r = CliRunner().invoke(cli, ["bench", "--compare", str(out), str(new)])
    assert r.exit_code == 0, r.output
    assert "(lossy)" in r.output and "2.00×" in r.output and "1.00×" in r.output
    flat = " ".join(r.output.split())
    assert "old: At 80 µs" in flat and "new: At 80 µs" in flat


@pytest.mark.parametrize("args, message", [
    (["--topologies", "sequential,warp"], "unknown warp"),
    (["--thresholds", "16 parsecs"], "invalid --thresholds '16 parsecs'"),
    (["--thresholds", "0MB"], "must be positive"),
    (["--latency", "fast"], "invalid --latency 'fast'"),
    (["--source", "mt5", "--latency", "80us"], "--latency applies only to --source sim"),
    (["--duration", "1s", "--polls", "10"], "not both"),
    (["--repeat", "0"], "invalid --repeat 0"),
    (["--sim-rate", "-1"], "invalid --sim-rate"),
    (["--mt5-login", "5"], "apply only to --source mt5"),
])
def test_bench_bad_input_exits_2_with_one_line(tmp_path, args, message):
    r = CliRunner().invoke(cli, ["bench", "--out", str(tmp_path / "o"), *args])
    assert r.exit_code == 2, r.output
    assert "Error: " in r.output and message in r.output
    assert not (tmp_path / "o").exists()


def test_bench_compare_missing_results_exits_2(tmp_path):
    r = CliRunner().invoke(cli, ["bench", "--compare", str(tmp_path), str(tmp_path)])
    assert r.exit_code == 2
    assert "no bench results at" in r.output


def test_bench_rerank_rewrites_the_same_rows_from_the_runs(bench_dir, tmp_path):
    from booktape.bench.report import load_results, rerank

    out, _ = bench_dir
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "gaps.png").unlink()
    doc = rerank(copy)
    assert (copy / "gaps.png").exists()
    assert load_results(copy)["rows"] == load_results(out)["rows"]
    assert doc["recommendations"] == load_results(out)["recommendations"]


def test_bench_unavailable_source_fails_fast_with_its_own_error(tmp_path):
    # No MetaTrader5 package (Linux), or the package and no terminal (the Windows lane):
    # the source says so once, before the grid (it used to run all 14 configurations,
    # then die in plot_p999).
    import importlib.util
    import time

    t0 = time.monotonic()
    r = CliRunner().invoke(cli, ["bench", "--source", "mt5", "--out", str(tmp_path / "o"),
                                 "--duration", "1s"], catch_exceptions=False)
    assert r.exit_code == 2, r.output
    installed = importlib.util.find_spec("MetaTrader5") is not None
    assert r.output.startswith("Error: " if installed else "Error: cannot import 'MetaTrader5'")
    assert len(r.output.strip().splitlines()) == 1
    assert time.monotonic() - t0 < 10 and not (tmp_path / "o").exists()


def test_bench_compare_names_failed_runs_failed_not_lossy_and_prints_json(bench_dir, tmp_path):
    out, _ = bench_dir
    new = tmp_path / "new"
    shutil.copytree(out, new)
    doc = json.loads((new / "results.json").read_text())
    for r in doc["rows"]:
        if r["topology"] == "sequential":
            r["failed"], r["disqualified"], r["reason"] = 1, True, "1 run(s) failed: exit 1"
    (new / "results.json").write_text(json.dumps(doc))
    r = CliRunner().invoke(cli, ["bench", "--compare", str(out), str(new)])
    assert r.exit_code == 0, r.output
    assert "(failed)" in r.output and "(lossy)" not in r.output
    r = CliRunner().invoke(cli, ["bench", "--compare", str(out), str(new), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert {x["why_new"] for x in res["rows"] if x["topology"] == "sequential"} == {"failed"}
    assert {x["status"] for x in res["rows"]} == {"both"}
