"""Running the bench: each run a fresh ``python -m booktape.bench._child`` process, measured.

CPU seconds come from ``os.wait4`` where it exists (covering the recorder's
helper processes, which it reaps), elsewhere (Windows) from psutil; peak RSS
is the largest sum over the process tree, sampled with psutil every 50 ms.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SourceUnavailable
from .measure import measure_run
from .plan import NOTEBOOK, BenchConfig, Run, schedule, source_options_for


@dataclass
class RunRecord:
    """One run's configuration and metrics (``error`` set when it failed)."""

    topology: str
    threshold: int
    latency_ns: int | None
    repeat: int
    index: int
    metrics: dict[str, float] = field(default_factory=dict)
    hist: list[int] = field(default_factory=list)
    error: str | None = None

    @property
    def key(self) -> str:
        lat = "native" if self.latency_ns is None else self.latency_ns
        return f"{self.topology}|{self.threshold}|{lat}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _TreeSampler:
    """Peak summed RSS and last-seen CPU of a process and its descendants, every 50 ms.

    RSS is sampled even where ``wait4`` exists: Linux's ``ru_maxrss`` of a
    child starts from its parent's high-water mark (inherited across
    fork/exec), which would charge the bench's own memory to every run.
    """

    def __init__(self, pid: int) -> None:
        import psutil

        self._proc = psutil.Process(pid)
        self.peak_mb = 0.0
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                rss = 0.0
                for q in [self._proc, *self._proc.children(recursive=True)]:
                    try:
                        with q.oneshot():
                            t = q.cpu_times()
                            self.cpu[q.pid] = t.user + t.system
                            rss += q.memory_info().rss
                    except psutil.Error:
                        continue
                self.peak_mb = max(self.peak_mb, rss / (1 << 20))
            except psutil.Error:
                pass
            self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _wait(p: subprocess.Popen[bytes]) -> tuple[int, float, float]:
    """Exit code, CPU seconds (process + helpers), peak RSS MB (summed over the tree)."""
    try:
        sampler: _TreeSampler | None = _TreeSampler(p.pid)
    except Exception:  # the child may already be gone
        sampler = None
    if hasattr(os, "wait4"):
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        cpu = ru.ru_utime + ru.ru_stime
    else:
        p.wait()
        cpu = sum(sampler.cpu.values()) if sampler else math.nan
    if sampler:
        sampler.stop()
    return int(p.returncode), cpu, sampler.peak_mb if sampler else math.nan


def _child_timeout(cfg: BenchConfig) -> float | None:
    if cfg.duration_ns is None:
        return None
    return cfg.duration_ns / 1e9 * 3 + 120


def run_one(cfg: BenchConfig, run: Run, workdir: Path, keep: bool = False) -> RunRecord:
    """Run one combination in a fresh process and measure it from its files."""
    c = run.combo
    rec = RunRecord(c.topology, c.threshold, c.latency_ns, run.repeat, run.index)
    d = workdir / f"run-{run.index:04d}"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    opts = source_options_for(cfg, c.latency_ns)
    if cfg.source == "sim" and c.topology != NOTEBOOK and not opts.get("lockstep"):
        # The sim's true timeline: the run is scored in true missed states (issue 13).
        # Lockstep markets only step over states inside a call (0 ns lives): not scored.
        opts = dict(opts, log_path=str(d / "truth.json"))
    spec = {"topology": c.topology, "threshold": c.threshold, "source": cfg.source,
            "source_options": opts, "symbol": cfg.symbol,
            "duration_ns": cfg.duration_ns, "polls": cfg.polls, "out": str(d / "data"),
            "diag": str(d / "diag"), "result": str(d / "result.json")}
    (d / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    with open(d / "child.log", "wb") as log:
        p = subprocess.Popen([sys.executable, "-m", "booktape.bench._child", str(d / "spec.json")],
                             stdout=log, stderr=subprocess.STDOUT)
        limit = _child_timeout(cfg)
        timer = threading.Timer(limit, p.kill) if limit else None
        try:
            if timer:
                # Daemon, and started inside the try: a Ctrl-C landing around start()
                # left a live non-daemon timer that held the interpreter's exit for
                # minutes after "Interrupted." (CI, issue 14).
                timer.daemon = True
                timer.start()
            code, cpu, rss = _wait(p)
        finally:
            if timer:
                timer.cancel()
    err = d / "error.json"
    if err.exists() and json.loads(err.read_text(encoding="utf-8"))["kind"] == "SourceUnavailable":
        raise SourceUnavailable(json.loads(err.read_text(encoding="utf-8"))["message"])
    try:
        if code != 0 or not (d / "result.json").exists():
            tail = (d / "child.log").read_text(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"exit {code}: {' / '.join(tail)}")
        child = json.loads((d / "result.json").read_text(encoding="utf-8"))
        rec.metrics, rec.hist = measure_run(d / "data", d / "diag", child,
                                            notebook=c.topology == NOTEBOOK, symbol=cfg.symbol)
    except Exception as e:  # a failed run is a result (disqualified), not a crashed bench
        rec.error = str(e) or type(e).__name__
    rec.metrics["cpu_s"] = cpu
    rec.metrics["rss_mb"] = rss if rss else math.nan
    if not keep and rec.error is None:
        shutil.rmtree(d, ignore_errors=True)
    return rec


def _merged(iv: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(iv):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _overlap_ns(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> int:
    """Total time inside an interval of ``a`` and an interval of ``b`` at once."""
    ma, mb = _merged(a), _merged(b)
    return sum(max(0, min(a1, b1) - max(a0, b0)) for a0, a1 in ma for b0, b1 in mb)


def run_pair(cfg: BenchConfig, run: Run, workdir: Path, keep: bool = False) -> dict[str, float]:
    """Two collectors polling one shared sim market side by side (``--collectors 2``).

    Each collector is its own fresh process (as two recorders on one machine
    would be), both given the same seed and ``anchor_ns``: one market. Returns
    ``pair_*`` metrics (the worse of the two collectors for gaps and bounds, the
    sum for CPU) and ``union_*`` ones (what the two together stored, scored
    against the sim's truth; blind-spot time when both were blind at once).
    """
    import time

    from ..analysis.truth import score_truth, union_score
    from .measure import bound_guarantee

    c = run.combo
    d = workdir / f"run-{run.index:04d}-pair"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    anchor = time.time_ns()
    names = ("zero", "one")
    procs = []
    for name in names:
        opts = dict(source_options_for(cfg, c.latency_ns), anchor_ns=anchor,
                    log_path=str(d / f"truth-{name}.json"))
        spec = {"topology": c.topology, "threshold": c.threshold, "source": cfg.source,
                "source_options": opts, "symbol": cfg.symbol, "duration_ns": cfg.duration_ns,
                "polls": cfg.polls, "out": str(d / "data"), "diag": str(d / f"diag-{name}"),
                "result": str(d / f"result-{name}.json"), "collector": name}
        (d / f"spec-{name}.json").write_text(json.dumps(spec), encoding="utf-8")
        log = open(d / f"child-{name}.log", "wb")  # noqa: SIM115 - closed after the wait
        procs.append((subprocess.Popen([sys.executable, "-m", "booktape.bench._child",
                                        str(d / f"spec-{name}.json")],
                                       stdout=log, stderr=subprocess.STDOUT), log))
    out: dict[str, float] = {}
    try:
        cpu = 0.0
        for p, log in procs:
            code, cpu_s, _ = _wait(p)
            log.close()
            if code != 0:
                raise RuntimeError(f"a paired collector exited {code}")
            cpu += cpu_s
        each, spots = [], []
        for name in names:
            child = json.loads((d / f"result-{name}.json").read_text(encoding="utf-8"))
            m, _ = measure_run(d / "data", d / f"diag-{name}", child, notebook=False,
                               symbol=cfg.symbol, collector=name,
                               truth=d / f"truth-{name}.json")
            each.append(m)
            g = bound_guarantee(d / "data", cfg.symbol, child.get("seq_first", 0),
                                child["expected"], name)
            spots.append([(p.since_ns, p.until_ns) for p in g.spots] if g else [])
        for k in ("gap_p50_us", "gap_p999_us", "B_p999_us", "blind_ms_per_min",
                  "true_missed_pct"):
            out[f"pair_{k}"] = max(m.get(k, math.nan) for m in each)
        out["pair_cpu_s"] = cpu
        out["pair_lost"] = sum(m.get("lost", 0.0) for m in each)
        u = union_score([score_truth(d / "data", d / f"truth-{n}.json", collector=n).scores[0]
                         for n in names])
        if u.true_states:
            out["union_missed_pct"] = 100.0 * u.missed / u.true_states if u.true_states else math.nan
            out["union_missed_ge1ms"] = float(u.missed_by_lifetime["<10ms"]
                                              + u.missed_by_lifetime[">=10ms"])
        minutes = (cfg.duration_ns or 0) / 60e9
        if minutes:
            out["union_blind_ms_per_min"] = _overlap_ns(*spots) / 1e6 / minutes
    except Exception as e:  # noqa: BLE001 - a failed pair is a result, not a crashed bench
        out["pair_failed"] = 1.0
        (d / "error.txt").write_text(str(e), encoding="utf-8")
        keep = True
    if not keep:
        shutil.rmtree(d, ignore_errors=True)
    return out


ProgressFn = Callable[[int, int, Run, RunRecord | None], None]


def probe_source(cfg: BenchConfig) -> None:
    """Open and close the source once, so a missing terminal or package fails the bench
    in a second with the source's own message, not after a grid of failed runs (issue 14).

    Raises:
        SourceUnavailable, BadArgument: as the source's ``open`` does.
    """
    from ..sources import SourceSpec, make_source

    src = make_source(SourceSpec(cfg.source, source_options_for(cfg, cfg.latencies[0])))
    try:
        src.open((cfg.symbol,))
    finally:
        src.close()


def run_bench(cfg: BenchConfig, out: str | Path, *, on_progress: ProgressFn | None = None,
              keep_runs: bool = False, probe: bool = True) -> list[RunRecord]:
    """Run every combination ``cfg.repeat`` times in interleaved order; results in ``out``.

    ``on_progress(done, total, run, record)`` is called before each run
    (``record`` None) and after it. Run directories go to ``out/_runs`` (the
    disk being benchmarked) and are removed after measuring unless
    ``keep_runs`` or the run failed. ``probe`` opens the source once first
    (:func:`probe_source`); pass False when the caller already did.
    """
    from .report import write_results

    if probe:
        probe_source(cfg)
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    runs = schedule(cfg)
    records: list[RunRecord] = []
    work = outdir / "_runs"
    for i, r in enumerate(runs):
        if on_progress:
            on_progress(i, len(runs), r, None)
        rec = run_one(cfg, r, work, keep=keep_runs)
        if cfg.collectors == 2 and r.combo.topology != NOTEBOOK:
            rec.metrics.update(run_pair(cfg, r, work, keep=keep_runs))
        records.append(rec)
        if on_progress:
            on_progress(i + 1, len(runs), r, rec)
    if work.exists() and not any(work.iterdir()):
        work.rmdir()
    write_results(cfg, records, outdir)
    return records
