"""``export`` over a day holds a batch, not the day: peak RSS measured (issues 12, 14).

A real tape from ``benchmarks/make_day.py`` (60 000 states x 32 levels over 15 h, 1.9 M
level rows in two parts of a million-row row group each), every command in its own
process, its peak RSS from ``tools/peak_rss.py``. Exporting the whole tape must take about what
exporting one minute of it takes: the difference is held to a quarter of what reading the
tape whole adds (the import and the formatting's fixed buffers are the same in both).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MiB = 1 << 20
MINUTE = ["--start", "2026-11-26T08:00", "--end", "2026-11-26T08:01"]


def _peak_mib(cmd: list[str]) -> float:
    """Peak RSS of ``python -m ...``/``python -c ...`` (``cmd`` without the interpreter).

    Through ``tools/peak_rss.py``: ``os.wait4``'s ``ru_maxrss`` reports at least the
    parent's size (Linux keeps the high-water mark across fork and exec), and pytest
    in the full suite is 1.3 GiB.
    """
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "peak"
        r = subprocess.run([sys.executable, str(ROOT / "tools" / "peak_rss.py"), str(out), *cmd],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert r.returncode == 0, r.stderr
        return float(out.read_text())


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("memday") / "day"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_day.py"), str(out),
                    "--snapshots", "60000", "--part-snapshots", "30000"], check=True,
                   stdout=subprocess.DEVNULL, timeout=600)
    return out


@pytest.fixture(scope="module")
def held(day: Path) -> float:
    """What reading the tape whole adds to a process that imported booktape."""
    base = _peak_mib(["-c", "import booktape, booktape.read.export"])
    whole = _peak_mib(["-c", f"import booktape; booktape.read_arrow({str(day)!r})"])
    assert whole - base > 60, (base, whole)  # big enough to tell streaming apart
    return whole - base


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="peak RSS is read from /proc (Linux)")
@pytest.mark.parametrize("args", [
    ["--csv", "{out}.csv"],
    ["--view", "levels", "--format", "parquet", "--out", "{out}.parquet"],
    ["--view", "quotes", "--format", "jsonl", "--out", "{out}.jsonl"],
], ids=["notebook-csv", "levels-parquet", "quotes-jsonl"])
def test_export_of_a_whole_day_takes_the_memory_of_one_minute(
        day: Path, held: float, tmp_path: Path, args: list[str]) -> None:
    def export(name: str, *extra: str) -> tuple[float, Path]:
        a = [x.replace("{out}", str(tmp_path / name)) for x in args]
        peak = _peak_mib(["-m", "booktape", "export", str(day), *a, *extra])
        return peak, Path(next(x for x in a if x.startswith(str(tmp_path))))

    minute, small = export("minute", *MINUTE)
    whole, big = export("whole")
    assert big.stat().st_size > 50 * small.stat().st_size > 0  # 15 h against 1 min
    # Measured (loaded 2-core box): the whole day within ~10 MiB of the minute, against
    # ~150 MiB for holding the tape.
    assert whole - minute < held / 4, (minute, whole, held)
