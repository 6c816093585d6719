"""CSV export in the notebook's columns, so old analysis code keeps working.

Columns: an unnamed level index, ``type, price, volume, volume_dbl,
time_after, time_before, name`` (``name`` = collector), times as
``YYYY-MM-DD HH:MM:SS.ffffff`` like ``str(datetime.now())``. Written file by
file, so a day-long tape never has to fit in memory.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.compute as pc

from ..errors import BadArgument
from ..tape.tape import Tape
from ..units import parse_time
from .reader import read_arrow, warn_problems

CSV_COLUMNS = ["type", "price", "volume", "volume_dbl", "time_after", "time_before", "name"]


def export_csv(data: str | Path, out: str | Path, symbol: str | None = None,
               collector: str | None = None, start: object = None, end: object = None,
               tz: str = "UTC", *, strict: bool = False, skip_damaged: bool = False) -> int:
    """Write the notebook-format CSV; returns the number of level rows written.

    ``strict`` and ``skip_damaged`` as in :func:`~booktape.read.reader.read_arrow`.
    Nothing is left at ``out`` (nor its ``.tmp``) when the export fails.
    """
    out = Path(out)
    if out.is_dir():
        raise BadArgument(f"--csv {out} is a directory; give a file name")
    try:
        import zoneinfo

        zoneinfo.ZoneInfo(tz)
    except Exception:
        raise BadArgument(f"unknown --tz {tz!r}; use an IANA name like UTC or Europe/Moscow") from None
    start_ns, end_ns = parse_time(start, "--start"), parse_time(end, "--end")
    tape = Tape.of(data)
    keys = sorted({(f.symbol, f.collector) for f in tape.files(symbol, collector, start_ns, end_ns)})
    if not keys:
        read_arrow(tape, symbol, collector)  # raises TapeNotFound for a path with no tape
    warn_problems(tape, symbol, collector, strict)
    tmp = out.with_name(out.name + ".tmp")
    try:
        n = _write(tape, tmp, keys, start_ns, end_ns, tz, skip_damaged)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed export leaves nothing behind (issue 11)
        raise
    tmp.replace(out)
    return n


def _write(tape: Tape, tmp: Path, keys: list[tuple[str, str]], start_ns: int | None,
           end_ns: int | None, tz: str, skip_damaged: bool) -> int:
    n = 0
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        header = True
        for sym, col in keys:
            t = read_arrow(tape, sym, col, start_ns, end_ns,
                           columns=["level", "type", "price", "volume", "volume_dbl",
                                    "t_after_ns", "t_before_ns"], skip_damaged=skip_damaged,
                           strict=False)  # manifest problems were reported once, above
            t = t.filter(pc.greater_equal(t.column("level"), 0))  # drop empty-book markers
            df = pd.DataFrame({
                "": t.column("level").to_numpy(),
                "type": t.column("type").to_numpy(),
                "price": t.column("price").to_numpy(),
                "volume": t.column("volume").to_numpy(),
                "volume_dbl": t.column("volume_dbl").to_numpy(),
                "time_after": _fmt(t.column("t_after_ns").to_numpy(), tz),
                "time_before": _fmt(t.column("t_before_ns").to_numpy(), tz),
                "name": col,
            })
            df.to_csv(fh, index=False, header=header)
            header = False
            n += len(df)
        if header:
            pd.DataFrame(columns=["", *CSV_COLUMNS]).to_csv(fh, index=False)
    return n


def _fmt(ns: object, tz: str) -> pd.Series:
    ts = pd.to_datetime(ns, unit="ns", utc=True).tz_convert(tz).tz_localize(None)
    return pd.Series(ts.strftime("%Y-%m-%d %H:%M:%S.%f"))
