"""CSV export in the notebook's columns, so old analysis code keeps working.

Columns: an unnamed level index, ``type, price, volume, volume_dbl,
time_after, time_before, name`` (``name`` = collector), times as
``YYYY-MM-DD HH:MM:SS.ffffff`` like ``str(datetime.now())``. Written file by
file, so a day-long tape never has to fit in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import BadArgument
from ..units import parse_time
from .batches import iter_batches
from .reader import read_arrow, tape_files

CSV_COLUMNS = ["type", "price", "volume", "volume_dbl", "time_after", "time_before", "name"]


def export_csv(data: str | Path, out: str | Path, symbol: str | None = None,
               collector: str | None = None, start: object = None, end: object = None,
               tz: str = "UTC") -> int:
    """Write the notebook-format CSV; returns the number of level rows written."""
    out = Path(out)
    if out.is_dir():
        raise BadArgument(f"--csv {out} is a directory; give a file name")
    try:
        import zoneinfo

        zoneinfo.ZoneInfo(tz)
    except Exception:
        raise BadArgument(f"unknown --tz {tz!r}; use an IANA name like UTC or Europe/Moscow") from None
    start_ns, end_ns = parse_time(start, "--start"), parse_time(end, "--end")
    keys = sorted({(f.symbol, f.collector) for f in tape_files(data, symbol, collector, start_ns, end_ns)})
    if not keys:
        read_arrow(data, symbol, collector)  # raises TapeNotFound for a path with no tape
    n = 0
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        header = True
        for col, t in _batches(data, keys, start_ns, end_ns):
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
    tmp.replace(out)
    return n


def _batches(data: str | Path, keys: list[tuple[str, str]], start_ns: int | None,
             end_ns: int | None) -> Iterator[tuple[str, pa.Table]]:
    """Each stream's rows in snapshot-aligned batches (issue 12: a day is 320 M rows)."""
    for sym, col in keys:
        for t in iter_batches(data, sym, col, start_ns, end_ns, columns=[
                "level", "type", "price", "volume", "volume_dbl", "t_after_ns", "t_before_ns"]):
            yield col, t


def _fmt(ns: object, tz: str) -> pd.Series:
    ts = pd.to_datetime(ns, unit="ns", utc=True).tz_convert(tz).tz_localize(None)
    return pd.Series(ts.strftime("%Y-%m-%d %H:%M:%S.%f"))
