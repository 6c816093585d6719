"""A user script calling ``booktape.record()`` without a ``__main__`` guard, under spawn.

Under ``spawn`` (Windows) every helper process imports the main script; an
unguarded ``record()`` call there used to start a recorder in each helper, and
the saver was restarted forever. The recorder now stops with one error naming
the fix. Real script files, run as ``python script.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import booktape

SCRIPT = """
import booktape
{indent}summary = booktape.record(r"{out}", duration="{duration}", topology="{topology}")
{indent}print("recorded", summary.stored if hasattr(summary, "stored") else summary)
"""


def _run(tmp_path: Path, guarded: bool, topology: str,
         duration: str = "2s") -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "data"
    body = SCRIPT.format(out=out, topology=topology, duration=duration,
                         indent="    " if guarded else "")
    if guarded:
        body = body.replace("import booktape\n", "import booktape\nif __name__ == '__main__':\n")
    script = tmp_path / "my_recording.py"
    script.write_text(textwrap.dedent(body))
    env = dict(os.environ, BOOKTAPE_START_METHOD="spawn")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=180)
    return r, out


def test_an_unguarded_script_stops_with_one_error_naming_the_fix(tmp_path):
    r, out = _run(tmp_path, guarded=False, topology="ring")
    assert r.returncode != 0, r.stdout + r.stderr
    assert "recorded" not in r.stdout
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("booktape.errors.UnguardedMain:"), r.stderr[-3000:]
    assert 'if __name__ == "__main__":' in last and "spawn" in last
    # Said once, not once per helper or restart; nothing restarted.
    assert r.stderr.count("__main__") == 1, r.stderr[-3000:]
    ev = "".join(f.read_text() for f in (out / "_events").rglob("*.jsonl"))
    assert '"restart"' not in ev
    # What it captured before stopping is sealed, seq contiguous.
    assert not list(out.rglob("_part-*.arrows"))
    if list(out.rglob("*.parquet")):
        seq = sorted(set(booktape.read_arrow(out, "RIU2", "zero", columns=["seq"],
                                             snapshots_only=True).column("seq").to_pylist()))
        assert seq == list(range(len(seq)))


def test_an_unguarded_script_with_the_sequential_topology_stops_too(tmp_path):
    # Only the health helper re-runs the script here: it is noticed once it has imported
    # (seconds under load) and the recording stops then, long before its 120 s.
    t0 = time.monotonic()
    r, _ = _run(tmp_path, guarded=False, topology="sequential", duration="120s")
    assert time.monotonic() - t0 < 90
    assert r.returncode != 0 and "recorded" not in r.stdout
    assert r.stderr.strip().splitlines()[-1].startswith("booktape.errors.UnguardedMain:"), r.stderr


def test_a_guarded_script_records_under_spawn(tmp_path):
    r, out = _run(tmp_path, guarded=True, topology="ring")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "recorded" in r.stdout and list(out.rglob("*.parquet"))
