"""The bench library: plan, ranking on crafted inputs, the notebook baseline, measurement."""

from __future__ import annotations

import math
import statistics
import time

import numpy as np
import pandas as pd
import pytest

from booktape.bench import notebook
from booktape.bench.measure import gap_metrics, in_windows
from booktape.bench.plan import (
    NOTEBOOK,
    combinations,
    make_config,
    parse_latencies,
    parse_thresholds,
    parse_topologies,
    schedule,
)
from booktape.bench.rank import aggregate, best, recommend, recommendations
from booktape.errors import BadArgument
from booktape.model import BookInfo
from booktape.transport import DEFAULT_TOPOLOGY, topology_names

# -- plan ---------------------------------------------------------------------------------------


def test_parse_topologies_all_includes_every_topology_and_the_notebook():
    assert parse_topologies("all") == (*topology_names(), NOTEBOOK)
    assert parse_topologies(f"sequential, {DEFAULT_TOPOLOGY},sequential") == ("sequential", DEFAULT_TOPOLOGY)


@pytest.mark.parametrize("text", ["nope", "sequential,shm", ",", ""])
def test_parse_topologies_unknown_raises_naming_the_choices(text):
    with pytest.raises(BadArgument, match="choose 'all' or some of: .*sequential"):
        parse_topologies(text)


def test_parse_thresholds_sizes_and_errors():
    assert parse_thresholds("16MB,256MB,1GB") == (16 << 20, 256 << 20, 1 << 30)
    for bad in ("16 parsecs", "0MB", ""):
        with pytest.raises(BadArgument):
            parse_thresholds(bad)


def test_parse_latencies_sim_default_and_real_sources():
    assert parse_latencies(None, "sim") == (0, 80_000)
    assert parse_latencies("0,80us,0.5ms", "sim") == (0, 80_000, 500_000)
    assert parse_latencies(None, "mt5") == (None,)
    with pytest.raises(BadArgument, match="only to --source sim"):
        parse_latencies("80us", "mt5linux")


def test_make_config_rejects_duration_and_polls_together_and_bad_counts():
    with pytest.raises(BadArgument, match="not both"):
        make_config(duration="1s", polls=10)
    with pytest.raises(BadArgument, match="--repeat"):
        make_config(repeat=0)
    with pytest.raises(BadArgument, match="--source"):
        make_config(source="bloomberg")


def test_schedule_each_round_runs_every_combination_once_in_a_new_order():
    cfg = make_config(topologies="all", thresholds="1MB,2MB", repeat=3, seed=7)
    combos = combinations(cfg)
    runs = schedule(cfg)
    assert len(runs) == 3 * len(combos)
    rounds = [[r.combo for r in runs if r.repeat == k] for k in range(3)]
    for rnd in rounds:
        assert sorted(c.key for c in rnd) == sorted(c.key for c in combos)
    assert rounds[0] != rounds[1] or rounds[1] != rounds[2]  # interleaved, not in plan order
    assert [r.combo for r in schedule(cfg)] == [r.combo for r in runs]  # seeded
    assert [r.index for r in runs] == list(range(len(runs)))


# -- ranking on crafted inputs --------------------------------------------------------------


def run(topo, p999, *, rng=None, th=1 << 20, lat=80_000, lost=0, dup=0, rep=0, error=None, pps=1000.0):
    m = {"gap_p999_us": p999, "gap_range_us": p999 * 2 if rng is None else rng, "lost": lost,
         "duplicated": dup, "polls_s": pps, "gap_p50_us": 10.0, "seals": 2}
    return {"topology": topo, "threshold": th, "latency_ns": lat, "repeat": rep, "index": 0,
            "metrics": m if error is None else {}, "hist": [], "error": error}


def row(rows, topo, th=1 << 20, lat=80_000):
    return next(r for r in rows if (r["topology"], r["threshold"], r["latency_ns"]) == (topo, th, lat))


def test_rank_lossy_configuration_is_never_recommended_however_fast():
    rows = aggregate([run("pipe", 5.0, lost=3), run("ring", 50.0), run("queue", 80.0),
                      run(NOTEBOOK, 9000.0)])
    pipe = row(rows, "pipe")
    assert pipe["disqualified"] and "lost 3" in pipe["reason"]
    assert pipe["rank_p999"] is None and pipe["rank_range"] is None
    assert best(rows, 80_000)["topology"] == "ring"
    s = recommend(rows, 80_000)
    assert s.startswith("At 80 µs source latency, use `ring` with 1 MiB: p99.9 gap 50 µs")
    assert "1.6× tighter than `queue`" in s and "180× tighter than the notebook loop" in s
    assert "pipe" not in s


def test_rank_loss_in_one_repeat_disqualifies_the_configuration():
    rows = aggregate([run("ring", 5.0, rep=0), run("ring", 5.0, rep=1, lost=1), run("ring", 5.0, rep=2),
                      run("queue", 90.0)])
    assert row(rows, "ring")["disqualified"]
    assert row(rows, "ring")["lost"] == 1
    assert best(rows, 80_000)["topology"] == "queue"


def test_rank_duplicates_and_failed_runs_disqualify():
    rows = aggregate([run("ring", 5.0, dup=2), run("pipe", 1.0, error="exit 1: boom"),
                      run("queue", 90.0)])
    assert "duplicated 2" in row(rows, "ring")["reason"]
    assert "failed: exit 1: boom" in row(rows, "pipe")["reason"]
    assert best(rows, 80_000)["topology"] == "queue"


def test_rank_everything_lossy_recommends_nothing():
    rows = aggregate([run("ring", 5.0, lost=1), run(NOTEBOOK, 10.0)])
    assert best(rows, 80_000) is None
    assert recommend(rows, 80_000).startswith("No configuration finished without loss")


def test_rank_ties_share_a_rank_and_the_range_breaks_the_recommendation():
    rows = aggregate([run("queue", 50.0, rng=900.0), run("ring", 50.0, rng=300.0),
                      run("pipe", 70.0, rng=100.0)])
    assert row(rows, "queue")["rank_p999"] == row(rows, "ring")["rank_p999"] == 1
    assert row(rows, "pipe")["rank_p999"] == 3
    assert [row(rows, t)["rank_range"] for t in ("pipe", "ring", "queue")] == [1, 2, 3]
    assert best(rows, 80_000)["topology"] == "ring"
    # fully tied: the choice is still deterministic (by name)
    rows = aggregate([run("queue", 50.0, rng=1.0), run("pipe", 50.0, rng=1.0)])
    assert best(rows, 80_000)["topology"] == "pipe"


def test_rank_nan_metrics_are_not_ranked_nor_recommended():
    rows = aggregate([run("ring", math.nan), run("queue", 40.0)])
    assert row(rows, "ring")["rank_p999"] is None
    assert row(rows, "queue")["rank_p999"] == 1
    assert best(rows, 80_000)["topology"] == "queue"
    rows = aggregate([run("ring", math.nan)])
    assert best(rows, 80_000) is None


def test_rank_notebook_is_ranked_but_never_recommended():
    rows = aggregate([run(NOTEBOOK, 1.0), run("ring", 50.0)])
    assert row(rows, NOTEBOOK)["rank_p999"] == 1
    assert best(rows, 80_000)["topology"] == "ring"
    assert "50× looser than the notebook loop" in recommend(rows, 80_000)


def test_rank_medians_of_repeats_and_one_sentence_per_latency():
    rows = aggregate([run("ring", v, rep=i) for i, v in enumerate((10.0, 30.0, 1000.0))]
                     + [run("ring", 7.0, lat=0), run("queue", 9.0, lat=0)])
    assert row(rows, "ring")["gap_p999_us"] == 30.0
    recs = recommendations(rows)
    assert len(recs) == 2 and recs[0].startswith("At 0 µs") and recs[1].startswith("At 80 µs")


def test_rank_compares_within_one_latency_only():
    rows = aggregate([run("ring", 10.0, lat=0), run("queue", 500.0, lat=80_000),
                      run("pipe", 900.0, lat=80_000)])
    assert row(rows, "queue", lat=80_000)["rank_p999"] == 1
    assert best(rows, 80_000)["topology"] == "queue"


# -- the notebook baseline ------------------------------------------------------------------

BOOK = tuple(BookInfo(1 if i < 20 else 2, 106_000.0 - 10 * i, i + 1, float(i + 1)) for i in range(40))


def test_notebook_loop_concats_every_poll_onto_the_growing_frame(tmp_path, monkeypatch):
    sizes = []
    real = pd.concat

    def spy(objs, *a, **k):
        sizes.append([len(o) for o in objs])
        return real(objs, *a, **k)

    monkeypatch.setattr(pd, "concat", spy)
    diag = tmp_path / "diag"
    diag.mkdir()
    r = notebook.run_notebook(lambda: BOOK, tmp_path / "csv", 1 << 40, deadline_ns=None,
                              max_polls=30, diag=diag, offset_ns=0)
    assert r.polls == 30 and r.dumps == 1
    # poll k concatenates the whole frame so far (40·k rows) with the new 40-row frame
    assert sizes == [[40 * k, 40] for k in range(1, 30)]


def _append_cost(rows: int) -> float:
    """Median time of one notebook loop body onto a frame of ``rows`` level rows."""
    frame = pd.concat([notebook.append_poll(None, BOOK, 0, 1, 0)] * (rows // 40))
    times = []
    for i in range(7):
        t0 = time.perf_counter()
        notebook.append_poll(frame, BOOK, 0, 1, i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def test_notebook_per_poll_cost_grows_with_the_frame():
    small, big = _append_cost(2_000), _append_cost(1_000_000)
    assert big > 3 * small, (small, big)


def test_notebook_dumps_at_the_threshold_and_reads_back_complete(tmp_path):
    diag = tmp_path / "diag"
    diag.mkdir()
    out = tmp_path / "csv"
    r = notebook.run_notebook(lambda: BOOK, out, 20_000, deadline_ns=None, max_polls=50,
                              diag=diag, offset_ns=0)
    assert r.dumps >= 3 and r.rows == 50 * 40
    assert np.load(diag / "windows.npy").shape == (r.dumps, 2)
    assert np.load(diag / "polls.npy").size == 50
    chk = notebook.read_back(out, r.polls)
    assert (chk.expected, chk.snapshots, chk.lost, chk.duplicated, chk.rows) == (50, 50, 0, 0, 2000)
    assert chk.bytes > 0 and chk.poll_durations.size == 50
    (out / "1.csv").unlink()
    assert notebook.read_back(out, r.polls).lost > 0


# -- measurement --------------------------------------------------------------------------------


def test_in_windows_marks_gaps_that_overlap_a_seal():
    t = np.array([0, 10, 20, 30, 40, 50])
    w = np.array([[12, 15], [38, 41]])
    assert in_windows(t, w).tolist() == [False, True, False, True, True]


def test_gap_metrics_separates_seal_gaps():
    t = np.cumsum([0] + [1_000] * 999 + [500_000] + [1_000] * 1000)
    w = np.array([[t[999] + 1, t[999] + 2]])
    m = gap_metrics(t, w)
    assert m["gap_p50_us"] == 1.0 and m["gap_max_us"] == 500.0
    assert m["gap_range_us"] == 499.0
    assert m["seals"] == 1 and m["seal_gaps"] == 1 and m["seal_gap_max_us"] == 500.0


def test_rank_a_stall_during_seals_is_not_hidden_by_a_million_fast_polls():
    seq = run("sequential", 25.0, rng=142_000.0)
    seq["metrics"].update(seals=5, seal_gap_p999_us=142_000.0)
    queue = run("queue", 29.0, rng=2_900.0)
    queue["metrics"].update(seals=6, seal_gap_p999_us=37.0)
    rows = aggregate([seq, queue])
    assert row(rows, "sequential")["rank_p999"] == 1  # the plain p99.9 ranking still says so
    assert best(rows, 80_000)["topology"] == "queue"
    s = recommend(rows, 80_000)
    assert "use `queue` with 1 MiB: p99.9 gap 29 µs (37 µs during seals)" in s
    assert "3,838× tighter than `sequential`" in s and "sealed twice" not in s


def test_rank_prefers_configurations_whose_rotation_was_exercised():
    small = run("ring", 60.0, th=16 << 20)
    small["metrics"].update(seals=4, seal_gap_p999_us=70.0)
    big = run("ring", 40.0, th=256 << 20)
    big["metrics"].update(seals=1)  # only the seal at the end: rotation never measured
    rows = aggregate([small, big])
    assert best(rows, 80_000)["threshold"] == 16 << 20
    only_big = aggregate([big])
    assert recommend(only_big, 80_000).startswith(
        "No recommendation at 80 µs source latency: no run sealed twice, so sealing (and the "
        "safety of the data across it) was not exercised")


def test_rank_overlapping_repeats_are_reported_as_noise_not_a_winner():
    # Two identical benches recommended different topologies (issue 14): when each one's
    # per-run p99.9 overlaps the other's, say so instead of naming a winner.
    runs = [run("ring", v, rep=i) for i, v in enumerate((40.0, 55.0, 70.0))]
    runs += [run("queue", v, rep=i) for i, v in enumerate((50.0, 60.0, 65.0))]
    s = recommend(aggregate(runs), 80_000)
    assert "within run-to-run noise of `queue` (p99.9 per run 40 µs–70 µs vs 50 µs–65 µs)" in s
    assert "tighter than `queue`" not in s
    runs = [run("ring", v, rep=i) for i, v in enumerate((40.0, 41.0, 42.0))]
    runs += [run("queue", v, rep=i) for i, v in enumerate((80.0, 85.0, 90.0))]
    s = recommend(aggregate(runs), 80_000)
    assert "2.1× tighter than `queue`" in s and "noise" not in s
    s = recommend(aggregate([run("ring", 40.0), run("queue", 80.0)]), 80_000)
    assert "one run each, so run-to-run noise was not measured" in s


def test_rank_near_ties_are_called_ties():
    rows = aggregate([run("fanout-queue", 344.0), run("ring", 347.0)])
    assert "tied with `ring` (within 1 %)" in recommend(rows, 80_000)


def test_plots_of_a_bench_whose_runs_all_failed_are_drawn(tmp_path):
    # `bench --source mt5` without the package used to die in plot_p999 (log axis, no data).
    import matplotlib.image as mpimg

    from booktape.bench.report import plot_gaps, plot_p999

    runs = [run(t, 1.0, error="exit 1: no MetaTrader5") for t in ("ring", "queue")]
    doc = {"rows": aggregate(runs), "runs": runs, "hist_edges_ns": [1, 10, 100]}
    plot_p999(doc, tmp_path / "p.png")
    plot_gaps(doc, tmp_path / "g.png")
    assert mpimg.imread(tmp_path / "p.png").shape[0] > 100


def test_bench_collectors_2_scores_two_collectors_on_one_market_and_their_union(tmp_path):
    # Issue 13: the notebook's "2 processes in parallel" question, measured in one round.
    import json

    from booktape.bench import make_config, run_bench
    from booktape.bench.rank import recommendations
    from booktape.errors import BadArgument

    cfg = make_config(topologies="sequential", thresholds="64KB", latency="20us", duration="2s",
                      repeat=1, collectors=2, source_options={"rate": 2000})
    (rec,) = run_bench(cfg, tmp_path / "b")
    m = rec.metrics
    assert rec.error is None and "pair_failed" not in m, m
    assert m["true_states"] > 100 and 0 <= m["true_missed_pct"] <= 100
    assert m["truth_violations"] == 0 and m["B_p999_us"] > 0
    assert m["pair_gap_p999_us"] > 0 and m["pair_cpu_s"] > 0 and m["pair_lost"] == 0
    assert 0 <= m["union_missed_pct"] <= m["pair_true_missed_pct"]
    assert m["union_blind_ms_per_min"] >= 0
    doc = json.loads((tmp_path / "b" / "results.json").read_text())
    (rec_s,) = recommendations(doc["rows"])
    assert "fewest true missed states" in rec_s and "two collectors side by side" in rec_s
    with pytest.raises(BadArgument, match="--collectors"):
        make_config(collectors=3)


def test_p999_ratio_view_is_each_p999_over_the_best_qualified_one(tmp_path):
    # Issue 14: the chart and table give each topology's p99.9 as a ratio to the best.
    import matplotlib.image as mpimg

    from booktape.bench.rank import fmt_us
    from booktape.bench.report import CSV_COLUMNS, TERMINAL, cell, plot_p999

    runs = [run("ring", 40.0), run("queue", 52.0), run("pipe", 80.0),
            run("fast-but-lossy", 4.0, lost=2), run("sequential", 1.0, error="exit 1")]
    runs += [run("ring", 100.0, lat=0), run("queue", 150.0, lat=0)]
    rows = aggregate(runs)
    want = {("ring", 80_000): 1.0, ("queue", 80_000): 1.3, ("pipe", 80_000): 2.0,
            ("fast-but-lossy", 80_000): 0.1, ("ring", 0): 1.0, ("queue", 0): 1.5}
    for (topo, lat), ratio in want.items():
        r = row(rows, topo, lat=lat)
        assert r["p999_vs_best"] == pytest.approx(r["gap_p999_us"] / (40.0 if lat else 100.0))
        assert r["p999_vs_best"] == pytest.approx(ratio)
    assert math.isnan(row(rows, "sequential")["p999_vs_best"])  # failed: no p99.9
    assert cell(row(rows, "queue"), "p999_vs_best") == "1.30×"
    assert "p999_vs_best" in CSV_COLUMNS and "p999_vs_best" in dict(TERMINAL)
    drawn = plot_p999({"rows": rows}, tmp_path / "p.png")
    # Best first per latency (lat 0 panel, then 80 µs); the lossy bar keeps its ratio.
    assert drawn == [f"{fmt_us(v)}\n{v / best:.2f}×" for v, best in
                     ((100, 100), (150, 100), (4, 40), (40, 40), (52, 40), (80, 40))] + ["failed"]
    assert mpimg.imread(tmp_path / "p.png").shape[0] > 100
