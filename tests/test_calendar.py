"""Trading calendars: the built-in MOEX files, a user's copy, bad files, exchange time."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from booktape.errors import BadArgument
from booktape.service.calendar import builtin_names, load_calendar

from .conftest import run_booktape

MSK = dt.timezone(dt.timedelta(hours=3))


def ns(y, mo, d, h=0, mi=0, tz=MSK):
    t = dt.datetime(y, mo, d, h, mi, tzinfo=tz)
    return int(t.timestamp()) * 1_000_000_000


def spans(cal, date):
    return [(f"{w.open:%H:%M}", f"{w.close:%H:%M}", w.calendar, w.day) for w in cal.day_windows(date)]


def test_builtin_calendars_are_shipped_as_package_data():
    assert builtin_names() == ["always", "moex-forts", "moex-forts-2025"]


def test_moex_forts_weekday_is_one_window_with_named_parts():
    cal = load_calendar("moex-forts")
    (w,) = cal.day_windows(dt.date(2026, 3, 24))  # a Tuesday
    assert (w.open.isoformat(), w.close.isoformat()) == ("2026-03-24T08:50:00+03:00",
                                                         "2026-03-24T23:50:00+03:00")
    assert [(n, f"{a:%H:%M}", f"{b:%H:%M}") for n, a, b in w.parts] == [
        ("opening_auction", "08:50", "09:00"), ("morning", "09:00", "10:00"),
        ("main", "10:00", "19:00"), ("evening", "19:00", "23:50")]
    assert w.open_ns == ns(2026, 3, 24, 8, 50) and w.close_ns == ns(2026, 3, 24, 23, 50)


def test_moex_forts_open_and_close_on_the_clock():
    cal = load_calendar("moex-forts")
    assert cal.window_at(ns(2026, 3, 24, 8, 49)) is None
    assert cal.window_at(ns(2026, 3, 24, 8, 50)).date == dt.date(2026, 3, 24)
    assert cal.window_at(ns(2026, 3, 24, 23, 49)) is not None
    assert cal.window_at(ns(2026, 3, 24, 23, 50)) is None  # the close is exclusive
    nxt = cal.next_window(ns(2026, 3, 24, 23, 50))
    assert nxt.open.isoformat() == "2026-03-25T08:50:00+03:00"


def test_moex_forts_weekend_sessions_and_weekends_without_trading():
    cal = load_calendar("moex-forts")
    assert spans(cal, dt.date(2026, 3, 28)) == [("09:50", "19:00", "moex-forts", "weekend")]
    assert spans(cal, dt.date(2026, 3, 29)) == [("09:50", "19:00", "moex-forts", "weekend")]
    for d in ("2026-06-20", "2026-06-21", "2026-08-01", "2026-08-16", "2026-09-12",
              "2026-10-25", "2026-12-05", "2026-12-06", "2026-05-10"):
        assert spans(cal, dt.date.fromisoformat(d)) == [], d
    # Friday 2026-06-19 closes at 23:50; the next session is Monday's.
    nxt = cal.next_window(ns(2026, 6, 19, 23, 50))
    assert nxt.open.isoformat() == "2026-06-22T08:50:00+03:00"


def test_moex_forts_holidays():
    cal = load_calendar("moex-forts")
    for d in ("2026-05-01", "2026-06-12", "2026-11-04"):  # holidays trading as weekend sessions
        assert spans(cal, dt.date.fromisoformat(d)) == [("09:50", "19:00", "moex-forts", "weekend")]
    for d in ("2026-05-09", "2026-12-31", "2026-01-01", "2026-01-02", "2026-01-07", "2026-03-08"):
        assert spans(cal, dt.date.fromisoformat(d)) == [], d
    # 23 Feb (Monday) is before the switch: a weekend session under the 2025 rules.
    assert spans(cal, dt.date(2026, 2, 23)) == [("09:50", "19:00", "moex-forts-2025", "weekend")]
    for d in ("2026-01-03", "2026-01-11", "2026-02-14", "2026-03-07"):
        assert spans(cal, dt.date.fromisoformat(d)) == [], d


def test_moex_forts_switch_on_2026_03_23():
    cal = load_calendar("moex-forts")
    fri = spans(cal, dt.date(2026, 3, 20))
    assert fri == [("08:50", "14:00", "moex-forts-2025", "weekday"),
                   ("14:05", "18:50", "moex-forts-2025", "weekday"),
                   ("19:05", "23:50", "moex-forts-2025", "weekday")]
    assert spans(cal, dt.date(2026, 3, 21)) == spans(cal, dt.date(2026, 3, 22)) == []
    assert spans(cal, dt.date(2026, 3, 23)) == [("08:50", "23:50", "moex-forts", "weekday")]
    # During the old intermediate clearing nothing is open; the next window is 14:05.
    assert cal.window_at(ns(2026, 3, 20, 14, 2)) is None
    assert cal.next_window(ns(2026, 3, 20, 14, 2)).open.isoformat() == "2026-03-20T14:05:00+03:00"
    # After Friday's close the next window is Monday's single session.
    assert cal.next_window(ns(2026, 3, 20, 23, 51)).open.isoformat() == "2026-03-23T08:50:00+03:00"


def test_moex_forts_2025_alone_has_its_pauses_and_ends_on_2026_03_20():
    cal = load_calendar("moex-forts-2025")
    assert len(cal.day_windows(dt.date(2025, 11, 26))) == 3
    assert cal.day_windows(dt.date(2026, 3, 23)) == []
    assert cal.next_window(ns(2026, 3, 21)) is None


def test_always_is_every_day_all_day():
    cal = load_calendar("always")
    (w,) = cal.day_windows(dt.date(2026, 12, 31))
    assert (w.open.isoformat(), w.close.isoformat()) == ("2026-12-31T00:00:00+00:00",
                                                         "2027-01-01T00:00:00+00:00")


@pytest.mark.skipif(sys.platform == "win32",
                    reason="TZ sets a process's zone on POSIX; Windows takes it from the system")
def test_moscow_time_from_a_machine_in_another_zone():
    # The machine's zone must not move the exchange's hours: ask from New York
    # (DST changes on 2026-03-08) and from Tokyo, in fresh processes.
    code = ("import datetime as dt, json, time; from booktape.service.calendar import load_calendar;"
            "c = load_calendar('moex-forts');"
            "w = [c.day_windows(dt.date(2026, m, d))[0] for m, d in ((3, 24), (7, 1), (11, 3))];"
            "print(json.dumps([time.tzname[0], [x.open_ns for x in w], [x.as_dict()['open_utc'] for x in w]]))")
    seen = []
    for zone in ("America/New_York", "Asia/Tokyo", "UTC"):
        env = {**os.environ, "TZ": zone}
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                           check=True)
        seen.append(json.loads(p.stdout))
    assert {s[0] for s in seen} == {"EST", "JST", "UTC"}  # the zones really differed
    for s in seen:
        assert s[1] == [ns(2026, 3, 24, 8, 50), ns(2026, 7, 1, 8, 50), ns(2026, 11, 3, 8, 50)]
        assert s[2] == ["2026-03-24T05:50:00Z", "2026-07-01T05:50:00Z", "2026-11-03T05:50:00Z"]


USER_CAL = """\
name = "my-desk"
timezone = "Europe/Moscow"

[week]
mon = "short"
tue = "short"
wed = "short"
thu = "short"
fri = "short"
sat = "closed"
sun = "closed"

[days.short]
parts = [
    { name = "am", start = "10:00", end = "12:00" },
    { name = "lunch", start = "12:00", end = "13:00", pause = true },
    { name = "pm", start = "13:00", end = "18:00" },
]

[dates]
2026-03-24 = "closed"
"""


def test_user_calendar_file_is_loaded(tmp_path):
    f = tmp_path / "desk.toml"
    f.write_text(USER_CAL)
    cal = load_calendar(str(f))
    assert cal.name == "my-desk"
    assert spans(cal, dt.date(2026, 3, 23)) == [("10:00", "12:00", "my-desk", "short"),
                                                ("13:00", "18:00", "my-desk", "short")]
    assert spans(cal, dt.date(2026, 3, 24)) == []
    assert spans(cal, dt.date(2026, 3, 28)) == []


@pytest.mark.parametrize("edit, expect", [
    (("[week]", "[week]\nholiday = \"closed\""), "key 'holiday' (line 5): not a weekday"),
    (('timezone = "Europe/Moscow"', 'timezone = "Europe/Mosco"'), "key 'timezone' (line 2): unknown time zone"),
    (('start = "13:00"', 'start = "25:00"'), "key 'parts' (line 17): part 'pm'"),
    (('2026-03-24 = "closed"', '2026-03-24 = "holiday"'), "key '2026-03-24' (line 21): unknown kind of day 'holiday'"),
    (('name = "my-desk"', 'name = "my-desk"\nowner = "me"'), "key 'owner' (line 2): unknown key"),
    (('sun = "closed"', ''), "key 'week' (line 4): no kind of day for sun"),
    (('mon = "short"', 'mon = short'), "not valid TOML"),
    (('{ name = "pm", start = "13:00"', '{ name = "pm", start = "11:00"'), "starts before 'lunch' ends"),
])
def test_bad_calendar_file_is_an_error_naming_key_and_line(tmp_path, edit, expect):
    f = tmp_path / "bad.toml"
    f.write_text(USER_CAL.replace(*edit))
    with pytest.raises(BadArgument) as e:
        load_calendar(str(f))
    assert expect in str(e.value) and str(f) in str(e.value)


def test_cli_bad_calendar_is_one_line_exit_2(tmp_path, tape):
    f = tmp_path / "bad.toml"
    f.write_text(USER_CAL.replace('timezone = "Europe/Moscow"', "timezone = 3"))
    for args in (("sessions", str(f)), ("record", "--out", str(tape), "--calendar", str(f))):
        p = run_booktape(*args)
        assert p.returncode == 2, p.stderr
        assert p.stderr.startswith("Error: calendar ") and "key 'timezone' (line 2)" in p.stderr
        assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not tape.exists()  # nothing touched


def test_cli_sessions_json_lists_windows_with_exchange_offset():
    p = run_booktape("sessions", "moex-forts", "--from", "2026-03-20", "--days", "4", "--json",
                     check=True)
    got = json.loads(p.stdout)
    assert [(w["date"], w["open"], w["close"]) for w in got] == [
        ("2026-03-20", "2026-03-20T08:50:00+03:00", "2026-03-20T14:00:00+03:00"),
        ("2026-03-20", "2026-03-20T14:05:00+03:00", "2026-03-20T18:50:00+03:00"),
        ("2026-03-20", "2026-03-20T19:05:00+03:00", "2026-03-20T23:50:00+03:00"),
        ("2026-03-23", "2026-03-23T08:50:00+03:00", "2026-03-23T23:50:00+03:00"),
    ]
    assert got[-1]["open_utc"] == "2026-03-23T05:50:00Z" and got[-1]["calendar"] == "moex-forts"
    for w in got:
        assert dt.datetime.fromisoformat(w["open"]) < dt.datetime.fromisoformat(w["close"])


def test_cli_sessions_table_shows_exchange_and_utc_times():
    p = run_booktape("sessions", "moex-forts", "--from", "2026-05-01", "--days", "3", check=True)
    assert "Europe/Moscow" in p.stdout
    assert "09:50" in p.stdout and "06:50" in p.stdout  # Friday 1 May: a weekend session
    assert "3 windows; 0 of 3 dates without trading" in p.stdout
    bad = run_booktape("sessions", "moex-forts", "--from", "first of may")
    assert bad.returncode == 2 and bad.stderr.startswith("Error: invalid --from")
