"""`analyze` and trading sessions: closed hours and clearings are not stalls or gaps."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time

import numpy as np

from booktape.analysis.sessions import SessionWindow, gaps_in_windows
from booktape.clock import DEV_CLOCK_ENV, dev_clock_env

from .conftest import run_booktape

MSK = dt.timezone(dt.timedelta(hours=3))


def ns(h, mi, s=0, d=20):
    return int(dt.datetime(2026, 3, d, h, mi, s, tzinfo=MSK).timestamp()) * 1_000_000_000


def record_at(tape, start_iso, speed, *args):
    # The clock reads start_iso now, so a recording never stamps before it, however fast
    # the process starts (a later anchor made a quick start read minutes early).
    env = {**os.environ, DEV_CLOCK_ENV: dev_clock_env(start_iso, speed, time.time_ns())}
    p = subprocess.run([sys.executable, "-m", "booktape", "record", "--out", str(tape),
                        "--topology", "sequential", "--sim-rate", "20", "--interval", "5ms",
                        "--quiet", *args], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    return p


def analyze(tape, *args, stall_min="20s"):
    # A fast clock magnifies the machine's scheduling hiccups (a 0.5 s stall of a loaded
    # box is 15 s at 30x): only gaps over stall_min of clock count; the pauses under test
    # last minutes.
    p = run_booktape("analyze", str(tape), "--json", "--stall-min", stall_min, *args)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout)["streams"][0]


def test_gaps_in_windows_marks_gaps_across_closed_time():
    w = [SessionWindow(100, 200), SessionWindow(300, 400)]
    m = np.array([110, 150, 199, 305, 390, 450], dtype=np.int64)
    assert gaps_in_windows(m, w).tolist() == [True, True, False, True, False]


def test_analyze_reads_the_session_events_across_the_2025_intermediate_clearing(tape):
    # 13:55 to 14:07 on Friday 2026-03-20 under the old schedule: recorded 13:55-14:00,
    # sealed, waited through the 14:00-14:05 clearing, recorded 14:05-14:07.
    p = record_at(tape, "2026-03-20T13:55:00+03:00", 30, "--session", "moex-forts",
                  "--until", "2026-03-20T14:07:00+03:00")
    assert "waiting for the session moex-forts-2025 2026-03-20 (weekday) 14:05–18:50 MSK" in p.stderr
    # Sealed at the clearing: each window's recording has its own sealed part, no journal.
    from booktape.events import read_events
    from booktape.tape.layout import partition_dirs
    from booktape.tape.manifest import read_manifest

    runs = [e["detail"]["session"] for e in read_events(tape) if e["kind"] == "session_open"]
    (d,) = partition_dirs(tape)
    assert [m.session for m in read_manifest(d)] == runs and len(runs) == 2
    assert not list(d.glob("_part-*"))
    r = analyze(tape, stall_min="60s")
    assert r["stall_count"] == 0 and r["long_gap_count"] == 0
    rows = r["sessions"]
    assert [(w["calendar"], w["open_ns"], w["close_ns"]) for w in rows] == [
        ("moex-forts-2025", ns(8, 50), ns(14, 0)), ("moex-forts-2025", ns(14, 5), ns(18, 50))]
    assert all(w["states"] > 100 and w["stalls"] == 0 for w in rows), rows
    assert rows[0]["last_ns"] < ns(14, 0) <= ns(14, 5) <= rows[1]["first_ns"]


def test_analyze_with_a_calendar_on_a_tape_without_session_events(tape):
    # Three plain recordings (no --session): 13:59-14:00, 14:05-14:06 and 14:07-14:08.
    for start in ("13:59:00", "14:05:00", "14:07:00"):
        record_at(tape, f"2026-03-20T{start}+03:00", 10, "--duration", "50s")
    plain = analyze(tape)
    assert plain["sessions"] == []
    assert plain["long_gap_count"] == 2  # without a calendar both pauses are long gaps
    with_cal = analyze(tape, "--session", "moex-forts-2025")
    # The clearing is closed time; the 14:06-14:07 hole inside a session is still a gap.
    assert with_cal["long_gap_count"] == 1
    (g,) = with_cal["long_gaps"]
    # It is the hole after the 14:05 recording, not the clearing before it. (Each process
    # starts a few real seconds late, up to a minute of this 10x clock, and --duration
    # counts from the call: where in 14:05-14:06 that recording ended varies.)
    assert ns(14, 5) < g["t_start_ns"] < ns(14, 7) < g["t_end_ns"] < ns(14, 8, 30)
    assert [w["open_ns"] for w in with_cal["sessions"]] == [ns(8, 50), ns(14, 5)]
    t = run_booktape("analyze", str(tape), "--session", "moex-forts-2025", check=True)
    assert "Per trading session" in t.stdout
    bad = run_booktape("analyze", str(tape), "--session", "nyse")
    assert bad.returncode == 2 and bad.stderr.startswith("Error: unknown calendar 'nyse'")


_RECORD_CLOSED = (
    "import sys, booktape; from booktape.sources import register; "
    "register('closed-sim', 'tests.closed_source:ClosedSim'); "
    "booktape.record(sys.argv[1], 'RIU2', duration='31min', interval='300ms', "
    "topology='sequential', source='closed-sim', source_options=dict(rate=20.0, seed=3, "
    "closed_from_ns=int(sys.argv[2]), closed_until_ns=int(sys.argv[3])))"
)


def test_a_scheduled_pause_between_two_polls_is_no_blind_spot(tmp_path):
    # A plain recording (no --session) from ~13:35 to 14:06 on Friday 2026-03-20 under
    # the old schedule, whose terminal serves no book during the 14:00-14:05 clearing:
    # the first state after it carries a blind_ns of over five minutes. (At 60x a
    # loaded machine's slow start, seen up to ~11 s, is minutes of clock: the clock
    # starts 25 s of real time before the pause.)
    from booktape.analysis import report
    from booktape.read.guarantee import clip_to_open
    from booktape.service.calendar import load_calendar
    from booktape.service.windows import windows_between

    tape = tmp_path / "data"
    c0, c1 = ns(14, 0), ns(14, 5)
    env = {**os.environ, DEV_CLOCK_ENV: dev_clock_env("2026-03-20T13:35:00+03:00", 60,
                                                       time.time_ns())}
    p = subprocess.run([sys.executable, "-c", _RECORD_CLOSED, str(tape), str(c0), str(c1)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    import booktape

    t = booktape.read_arrow(tape, "RIU2", "zero", snapshots_only=True,
                            columns=["t_before_ns", "t_after_ns", "blind_ns"])
    tb, ta, b = (t.column(k).to_numpy() for k in ("t_before_ns", "t_after_ns", "blind_ns"))
    i = int(np.searchsorted(ta, c1))  # the first state after the pause
    assert i > 10 and ta[i - 1] < c0, "the recorder started after the pause"
    assert b[i] >= c1 - c0
    assert tb[-1] > ns(14, 5, 30)

    # Without a calendar the pause is a blind spot of its length (the worst one).
    (pb,) = report(tape).bounds
    assert pb.overall.spot_worst_ns == b[i] and pb.overall.closed_count == 0
    # With it, the bound there is the open time around the pause; nothing else changes.
    (sb,) = report(tape, windows=windows_between(load_calendar("moex-forts-2025"))).bounds
    assert sb.overall.closed_count == 1 and sb.threshold_ns == pb.threshold_ns
    opened = int((c0 - tb[i - 1]) + (ta[i] - c1))
    assert opened < 120_000_000_000  # seconds of clock (60x) around it, not five minutes
    clipped, cut = clip_to_open(b, tb, ta, np.array([ns(8, 50), c1]), np.array([c0, ns(18, 50)]))
    assert np.flatnonzero(cut).tolist() == [i] and clipped[i] == opened
    still = opened > sb.threshold_ns  # a stall in trading time next to the pause stays one
    g, pg = sb.overall, pb.overall
    assert g.spot_count == pg.spot_count - 1 + still
    assert g.spot_total_ns == pg.spot_total_ns - b[i] + opened * still
    assert g.spot_worst_ns < c1 - c0
    # The CLI: the same through --session, and the count in the guarantee table.
    r = run_booktape("analyze", str(tape), "--json", "--session", "moex-forts-2025")
    doc = json.loads(r.stdout)
    assert doc["bounds"][0]["overall"]["closed_count"] == 1
    assert not [s for s in doc["bounds"][0]["overall"]["spots"] if s["blind_ns"] >= c1 - c0]
    assert doc["bounds"][0]["overall"]["spot_worst_ns"] == g.spot_worst_ns
