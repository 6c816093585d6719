"""A Ctrl-C during a tape scan ends the scan, whatever DuckDB turns it into (issue 14).

DuckDB 2.0 runs Python's SIGINT handler inside a query, clears the KeyboardInterrupt and
raises ``RuntimeError("Query interrupted")``; the scan's "note a damaged file and go on"
caught that, and ``analyze`` ran on to the end of the tape after Ctrl-C.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from booktape.interrupts import watch_interrupts

from .analysis_tapes import clean_tape, coll_dir
from .helpers import ctrl_c_reaches_children

# Runs in a child: a real SIGINT from a timer thread at spread-out moments of a scan.
CHILD = textwrap.dedent("""
    import json, os, signal, sys, threading, time, traceback
    # As from a terminal, even when the test run inherited SIGINT ignored (a harness).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from booktape.analysis._scan import scan_tape

    tape = sys.argv[1]
    t0 = time.monotonic(); scan_tape(tape); took = time.monotonic() - t0
    res = {"interrupted": 0, "inside_query": 0, "swallowed": 0, "finished_first": 0}
    for i in range(int(sys.argv[2])):
        sent = threading.Event()
        def kick():
            sent.set()
            if os.name == "nt":  # os.kill(pid, SIGINT) is TerminateProcess there
                signal.raise_signal(signal.SIGINT)
            else:
                os.kill(os.getpid(), signal.SIGINT)
        timer = threading.Timer(took * (0.05 + 0.9 * i / int(sys.argv[2])), kick)
        timer.start()
        try:
            streams = scan_tape(tape)
            was_sent = sent.is_set()
            timer.cancel(); timer.join()
            time.sleep(0.3)  # a SIGINT that came after the scan is raised here
            errors = [f.error for s in streams for f in s.files if f.error]
            if errors or was_sent:
                res["swallowed"] += 1
                print(errors[:1], file=sys.stderr)
            else:
                res["finished_first"] += 1
        except KeyboardInterrupt as e:
            res["interrupted"] += 1
            # Raised by the scan for DuckDB's own error, not by Python between statements.
            if e.__suppress_context__ and traceback.extract_tb(e.__traceback__)[-1].name == "_scan_group":
                res["inside_query"] += 1
        timer.join()
    print(json.dumps(res))
""")


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clean tape's collector copied 15 times: a scan that takes a second or more."""
    tape = clean_tape(tmp_path_factory.mktemp("intr") / "data")
    for i in range(15):
        shutil.copytree(coll_dir(tape), coll_dir(tape).with_name(f"collector=c{i:02d}"))
    return tape


def test_ctrl_c_during_scan_is_never_taken_for_a_damaged_file(wide: Path) -> None:
    p = subprocess.run([sys.executable, "-c", CHILD, str(wide), "24"], capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert res["swallowed"] == 0, (res, p.stderr)
    # The moments spread over the scan: some interrupts did land inside a DuckDB query.
    assert res["inside_query"] >= 1, res
    assert res["interrupted"] + res["finished_first"] == 24, res


def test_watch_interrupts_chains_the_handler_and_restores_it() -> None:
    with ctrl_c_reaches_children():  # SIGINT handled here, even under a harness ignoring it
        _chains_and_restores()


def _chains_and_restores() -> None:
    before = signal.getsignal(signal.SIGINT)
    with watch_interrupts() as interrupted:
        assert not interrupted()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)  # the handler before it still runs
        assert interrupted()
    assert signal.getsignal(signal.SIGINT) is before


def test_watch_interrupts_leaves_an_ignored_sigint_ignored() -> None:
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with watch_interrupts() as interrupted:
            signal.raise_signal(signal.SIGINT)
            assert not interrupted()
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


# A command whose Ctrl-C is swallowed where Python ignores exceptions (seen in CI: a
# weakref callback printed "Exception ignored in ... KeyboardInterrupt" and analyze ran
# on), and one whose exit then waits on a non-daemon thread.
SWALLOWS = textwrap.dedent("""
    import sys, threading, time
    from booktape.interrupts import guard_interrupts
    guard_interrupts(float(sys.argv[1]))
    if sys.argv[2] == "swallow":
        ready = False
        while True:
            try:  # "ready" inside: the parent's signal may land right after it
                if not ready:
                    ready = True
                    print("ready", flush=True)
                time.sleep(0.05)
            except KeyboardInterrupt:
                pass
    else:
        threading.Thread(target=time.sleep, args=(600,)).start()
        print("ready", flush=True)
        time.sleep(600)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT (POSIX)")
@pytest.mark.parametrize("how", ["swallow", "exit_waits"])
def test_guard_ends_the_process_after_a_swallowed_or_stuck_ctrl_c(how: str) -> None:
    import time

    with ctrl_c_reaches_children():
        p = subprocess.Popen([sys.executable, "-c", SWALLOWS, "1.5", how],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline() == "ready\n"
    p.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    try:
        out, err = p.communicate(timeout=30)
    finally:
        p.kill()
    assert p.returncode == 130, err
    assert err.count("Interrupted.") == 1, err
    assert time.monotonic() - t0 >= 1.4  # its own path had the grace period first


def test_guard_leaves_an_ignored_sigint_ignored() -> None:
    code = ("import signal, os, time; signal.signal(signal.SIGINT, signal.SIG_IGN);"
            "from booktape.interrupts import guard_interrupts; guard_interrupts(0.2);"
            "os.kill(os.getpid(), signal.SIGINT) if hasattr(signal, 'SIGKILL') else None;"
            "time.sleep(0.6); print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "True", r


# A library that turns the KeyboardInterrupt raised inside it into an error of its own, as
# DuckDB's module init did in CI (ImportError "Encountered an error while initializing
# the extension": a traceback and exit 1 instead of "Interrupted." and 130).
CONVERTS = textwrap.dedent("""
    import sys, time
    from booktape.interrupts import guard_interrupts
    guard_interrupts()
    from booktape.cli import cli, main

    @cli.command("convert")
    def convert():
        print("ready", flush=True)
        try:
            time.sleep(60)
        except KeyboardInterrupt:
            raise ImportError("Encountered an error while initializing the extension.")

    main()
""")


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT (POSIX)")
def test_an_error_a_library_made_of_ctrl_c_ends_the_command_as_interrupted() -> None:
    with ctrl_c_reaches_children():
        p = subprocess.Popen([sys.executable, "-c", CONVERTS, "convert"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline() == "ready\n"
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=30)
    finally:
        p.kill()
    assert (p.returncode, err.strip()) == (130, "Interrupted."), err


def test_an_error_without_ctrl_c_is_still_an_error() -> None:
    code = CONVERTS.replace("time.sleep(60)", "raise ValueError('a real bug')")
    r = subprocess.run([sys.executable, "-c", code, "convert"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and "ValueError: a real bug" in r.stderr, r


# Ctrl-C while a module is being imported (CI: one that landed in DuckDB's extension init
# made nanobind abort the process, "Critical nanobind error" and SIGABRT). The module
# sends the signal to itself and goes on; the guard holds the interrupt until the import
# is over and raises it then.
IMPORTS = textwrap.dedent("""
    import signal, sys, time
    from booktape.interrupts import guard_interrupts
    guard_interrupts()
    sys.path.insert(0, sys.argv[1])
    t0 = time.monotonic()
    try:
        import ctrl_c_inside
        time.sleep(10)
        print("ran on")
    except KeyboardInterrupt:
        # Wherever after the import it landed (Windows: inside a print), the module ran
        # to its end; one interrupted halfway would not be in sys.modules at all.
        mod = sys.modules.get("ctrl_c_inside")
        print("interrupted", getattr(mod, "DONE", False), time.monotonic() - t0 < 5)
""")
INSIDE = textwrap.dedent("""
    import signal, time
    signal.raise_signal(signal.SIGINT)
    for _ in range(5):
        time.sleep(0.02)
    DONE = True
""")


def test_guard_holds_a_ctrl_c_that_lands_in_an_import_until_the_import_is_over(
        tmp_path: Path) -> None:
    (tmp_path / "ctrl_c_inside.py").write_text(INSIDE)
    with ctrl_c_reaches_children():  # CI starts the suite with SIGINT ignored
        r = subprocess.run([sys.executable, "-c", IMPORTS, str(tmp_path)], capture_output=True,
                           text=True, timeout=120)
    assert r.returncode == 0, r
    assert r.stdout.split() == ["interrupted", "True", "True"], r
    assert r.stderr == "", r


# A Ctrl-C that lands where Python ignores exceptions (a __del__ here, a weakref callback
# in CI) is neither printed ("Exception ignored in ...") nor lost until the guard's last
# resort: it is raised again in the code that runs next.
UNRAISABLE = textwrap.dedent("""
    import signal, sys, time
    from booktape.interrupts import guard_interrupts
    guard_interrupts(20.0)

    class Finalised:
        def __del__(self):
            signal.raise_signal(signal.SIGINT)
            for _ in range(5):
                time.sleep(0.02)  # the handler raises in here, where nothing can catch it

    t0 = time.monotonic()
    try:
        Finalised()
        while time.monotonic() - t0 < 10:
            time.sleep(0.01)
        print("ran on")
    except KeyboardInterrupt:
        print("interrupted", time.monotonic() - t0 < 5)
""")


def test_guard_raises_again_a_ctrl_c_swallowed_where_python_ignores_errors() -> None:
    with ctrl_c_reaches_children():
        r = subprocess.run([sys.executable, "-c", UNRAISABLE], capture_output=True, text=True,
                           timeout=120)
    assert (r.returncode, r.stdout.split()) == (0, ["interrupted", "True"]), r
    assert r.stderr == "", r
