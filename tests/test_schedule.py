"""The session scheduler on a manual clock: when it waits, records, and stops."""

from __future__ import annotations

import datetime as dt

from booktape.clock import ManualClock
from booktape.service.calendar import load_calendar
from booktape.service.schedule import merged_window, run_schedule

from .helpers import posix_signals

MSK = dt.timezone(dt.timedelta(hours=3))


def ns(y, mo, d, h=0, mi=0):
    return int(dt.datetime(y, mo, d, h, mi, tzinfo=MSK).timestamp()) * 1_000_000_000


class Flag:
    def __init__(self):
        self.up = False

    def is_set(self):
        return self.up


def drive(cal, start_ns, end_ns, *, record_lag_ns=0, stop_after=None):
    """Run the scheduler on a manual clock; 'recording' jumps the clock to the deadline."""
    clock = ManualClock(start_ns)
    stop = Flag()
    calls, waits = [], []

    def record_window(w, deadline):
        calls.append((w, clock.now_ns(), deadline))
        clock.t = deadline + record_lag_ns
        if stop_after is not None and len(calls) >= stop_after:
            stop.up = True
        return len(calls)

    def sleep(s):
        clock.advance(int(s * 1e9))

    got = run_schedule(cal, record_window, clock=clock, stop=stop, end_ns=end_ns,
                       on_wait=lambda w: waits.append((w.open_ns, clock.now_ns())), sleep=sleep)
    return got, calls, waits


def test_schedule_waits_for_the_open_records_to_the_close_then_the_next_day():
    cal = load_calendar("moex-forts")
    got, calls, waits = drive(cal, ns(2026, 3, 24, 6, 0), ns(2026, 3, 25, 12, 0))
    assert got == [1, 2]
    (w1, t1, d1), (w2, t2, d2) = calls
    assert t1 == ns(2026, 3, 24, 8, 50) and d1 == ns(2026, 3, 24, 23, 50)  # not a second early
    assert t2 == ns(2026, 3, 25, 8, 50) and d2 == ns(2026, 3, 25, 12, 0)  # --until inside it
    assert waits == [(ns(2026, 3, 24, 8, 50), ns(2026, 3, 24, 6, 0)),
                     (ns(2026, 3, 25, 8, 50), ns(2026, 3, 24, 23, 50))]


def test_schedule_started_during_a_session_records_at_once():
    cal = load_calendar("moex-forts")
    _, calls, waits = drive(cal, ns(2026, 3, 24, 15, 7), ns(2026, 3, 24, 23, 59))
    assert [(t, d) for _, t, d in calls] == [(ns(2026, 3, 24, 15, 7), ns(2026, 3, 24, 23, 50))]
    assert waits == []


def test_schedule_skips_weekends_without_trading_and_holidays():
    cal = load_calendar("moex-forts")
    # Friday 2026-06-19 evening to Monday 06-22: the weekend of 20-21 Jun has no trading.
    _, calls, _ = drive(cal, ns(2026, 6, 19, 23, 0), ns(2026, 6, 22, 9, 0))
    assert [(w.date.isoformat(), t) for w, t, _ in calls] == [
        ("2026-06-19", ns(2026, 6, 19, 23, 0)), ("2026-06-22", ns(2026, 6, 22, 8, 50))]
    # Saturday 9 May (closed), Sunday 10 May (closed), Monday 11 May.
    _, calls, _ = drive(cal, ns(2026, 5, 8, 23, 55), ns(2026, 5, 11, 9, 0))
    assert [w.date.isoformat() for w, _, _ in calls] == ["2026-05-11"]
    # A holiday as a weekend session: 12 Jun 2026 09:50-19:00.
    _, calls, _ = drive(cal, ns(2026, 6, 12, 0, 0), ns(2026, 6, 12, 23, 59))
    assert [(w.day, t, d) for w, t, d in calls] == [
        ("weekend", ns(2026, 6, 12, 9, 50), ns(2026, 6, 12, 19, 0))]


def test_schedule_seals_at_the_2025_clearings_and_switches_on_2026_03_23():
    cal = load_calendar("moex-forts")
    _, calls, _ = drive(cal, ns(2026, 3, 20, 8, 0), ns(2026, 3, 23, 23, 59))
    assert [(w.calendar, t, d) for w, t, d in calls] == [
        ("moex-forts-2025", ns(2026, 3, 20, 8, 50), ns(2026, 3, 20, 14, 0)),
        ("moex-forts-2025", ns(2026, 3, 20, 14, 5), ns(2026, 3, 20, 18, 50)),
        ("moex-forts-2025", ns(2026, 3, 20, 19, 5), ns(2026, 3, 20, 23, 50)),
        ("moex-forts", ns(2026, 3, 23, 8, 50), ns(2026, 3, 23, 23, 50)),
    ]


def test_schedule_stops_when_told_and_at_a_deadline_before_the_open():
    cal = load_calendar("moex-forts")
    got, calls, _ = drive(cal, ns(2026, 3, 24, 6, 0), None, stop_after=1)
    assert got == [1] and len(calls) == 1
    got, calls, waits = drive(cal, ns(2026, 3, 24, 6, 0), ns(2026, 3, 24, 8, 0))
    assert got == [] and calls == [] and waits == []  # opens after the deadline: no wait


def test_schedule_recording_that_ends_early_is_not_restarted():
    # --polls ends a recording before its deadline: that ends the run.
    cal = load_calendar("moex-forts")
    got, calls, _ = drive(cal, ns(2026, 3, 24, 9, 0), None, record_lag_ns=-3_600_000_000_000)
    assert got == [1]


def test_always_windows_touching_at_midnight_are_one_recording():
    cal = load_calendar("always")
    start = int(dt.datetime(2026, 12, 30, 22, 0, tzinfo=dt.UTC).timestamp()) * 10**9
    w = merged_window(cal, start)
    assert w.open.isoformat() == "2026-12-30T00:00:00+00:00"
    assert (w.close - w.open).days == 31
    end = start + 3 * 86_400 * 10**9
    _, calls, _ = drive(cal, start, end)
    assert [(t, d) for _, t, d in calls] == [(start, end)]


# --- the recorder, waiting (real processes on a pinned clock) ------------------------------

def _recorder(tape, *args):
    import os
    import subprocess
    import sys
    import time

    from booktape.clock import DEV_CLOCK_ENV, dev_clock_env

    env = {**os.environ, DEV_CLOCK_ENV: dev_clock_env("2026-03-24T06:00:00+03:00", 1.0,
                                                       time.time_ns())}
    return subprocess.Popen([sys.executable, "-m", "booktape", "record", "--session", "moex-forts",
                             "--out", str(tape), "--quiet", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_recorder_whose_deadline_comes_before_the_open_stops_at_once(tape):
    p = _recorder(tape, "--duration", "30m")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "opens after the deadline: stopping" in err
    assert not list(tape.glob("symbol=*"))  # nothing recorded outside the session


@posix_signals
def test_recorder_waiting_for_the_open_stops_on_sigterm(tape):
    import signal
    import time

    p = _recorder(tape)
    deadline = time.monotonic() + 60
    line = ""
    while "waiting for the session" not in line and time.monotonic() < deadline:
        line = p.stderr.readline()
    assert "moex-forts 2026-03-24 (weekday) 08:50–23:50 MSK = 2026-03-24 05:50–20:50 UTC" in line
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=30)
    assert p.returncode == 0 and time.monotonic() - t0 < 5  # the wait ends within a second or so
    assert not list(tape.glob("symbol=*"))


def test_status_line_says_when_the_session_opens():
    from booktape.cli._render import _waiting_text

    open_ns = ns(2026, 3, 24, 8, 50)
    text = _waiting_text(open_ns)
    assert "waiting for the session" in text and "(05:50 UTC)" in text and "2026-03-24" in text
