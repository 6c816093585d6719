"""The notebook's CSVs as analysis input, and its ``concate_files`` workflow made correct.

The notebook wrote one CSV per memory-threshold dump (``0.csv``, ``1.csv``, …)
with an unnamed level index and ``type, price, volume, volume_dbl, time_after,
time_before, name`` (``name`` = the collector); times are ``str(datetime.now())``
with Windows' 1 ms clock steps. :func:`scan_csv_folder` turns such a folder into
the same per-snapshot :class:`~booktape.analysis._scan.Stream` a tape gives (a
snapshot starts where the level index restarts at 0), streaming each file.

:func:`concate_files` and :func:`calculate_diff_components` keep the notebook's
names and return values, on tapes or CSVs, but fix what made it slow and wrong:
no ``pd.concat`` of level rows (one row per snapshot by default), and order and
``diff`` are taken per collector instead of across the concatenation of two.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import BadArgument, TapeNotFound
from ..tape.tape import Tape
from ._scan import FileInfo, Stream, _stream, scan_tape

log = logging.getLogger(__name__)

CSV_TIME_COLUMNS = ("time_after", "time_before")
_KNOWN = {"type", "price", "volume", "volume_dbl", "time_after", "time_before", "name"}


def file_number(path: str | Path) -> tuple[int, str]:
    """Sort key of ``12.csv`` → 12 (the notebook's ``file_number``); other names sort last."""
    stem = Path(path).stem
    return (int(stem), "") if stem.isdigit() else (1 << 62, stem)


def csv_files(folder: str | Path) -> list[Path]:
    """The ``*.csv`` files of a folder in the notebook's numeric order."""
    p = Path(folder)
    if p.is_file() and p.suffix.lower() == ".csv":
        return [p]
    return sorted((f for f in p.glob("*.csv") if f.is_file()), key=file_number)


def is_csv_folder(data: str | Path) -> bool:
    """True for a notebook CSV file or a folder of them that is not a booktape tape."""
    p = Path(data)
    if p.is_file():
        return p.suffix.lower() == ".csv"
    return p.is_dir() and not any(p.glob("symbol=*")) and bool(csv_files(p))


def _first_line(path: Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        line = fh.readline().rstrip("\r\n")
    return [c.strip().strip('"') for c in line.split(",")]


def _read_snapshots(path: Path) -> tuple[dict[str, tuple[list[np.ndarray], list[np.ndarray]]],
                                          int]:
    """Snapshot rows of one CSV, per collector name; and its level-row count."""
    names = _first_line(path)
    missing = {"time_after", "time_before"} - set(names)
    if missing:
        raise BadArgument(f"{path} is not a notebook CSV: no column(s) {sorted(missing)} "
                          f"(has {names})")
    idx_col = names[0] if names and names[0] not in _KNOWN else None
    include = [c for c in (idx_col, "time_before", "time_after", "name") if c is not None
               and c in names]
    conv = pacsv.ConvertOptions(include_columns=include, column_types={
        "time_after": pa.timestamp("ns"), "time_before": pa.timestamp("ns"),
        "name": pa.string(), **({idx_col: pa.int64()} if idx_col is not None else {})})
    out: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    rows = 0
    prev: tuple[int, int, str] | None = None
    try:
        reader = pacsv.open_csv(path, convert_options=conv,
                                read_options=pacsv.ReadOptions(block_size=64 << 20))
        for batch in reader:
            n = batch.num_rows
            rows += n
            tb = batch.column("time_before").cast(pa.int64()).to_numpy(zero_copy_only=False)
            ta = batch.column("time_after").cast(pa.int64()).to_numpy(zero_copy_only=False)
            nm = (batch.column("name").to_numpy(zero_copy_only=False).astype(str)
                  if "name" in batch.schema.names else np.full(n, "csv"))
            if idx_col is not None:
                lv = batch.column(idx_col).to_numpy(zero_copy_only=False)
                start = np.r_[True, lv[1:] <= lv[:-1]] | (lv == 0)
                if prev is not None and n:
                    start[0] = bool(lv[0] == 0)
            else:  # no level index: a new snapshot wherever the stamps or the name change
                start = np.ones(n, bool)
                start[1:] = (tb[1:] != tb[:-1]) | (ta[1:] != ta[:-1]) | (nm[1:] != nm[:-1])
                if prev is not None and n:
                    start[0] = (int(tb[0]), int(ta[0]), str(nm[0])) != prev
            if n:
                prev = (int(tb[-1]), int(ta[-1]), str(nm[-1]))
            sel = np.flatnonzero(start)
            for name in np.unique(nm[sel]):
                s = sel[nm[sel] == name]
                acc = out.setdefault(str(name), ([], []))
                acc[0].append(tb[s])
                acc[1].append(ta[s])
    except pa.ArrowInvalid as e:
        raise BadArgument(f"cannot parse {path} as a notebook CSV: {str(e).splitlines()[0]}") from e
    return out, rows


def scan_csv_folder(folder: str | Path, collector: str | None = None,
                    start_ns: int | None = None, end_ns: int | None = None,
                    symbol: str = "csv") -> list[Stream]:
    """One :class:`Stream` per collector (``name``) of a folder of notebook CSVs."""
    files = csv_files(folder)
    if not files:
        raise TapeNotFound(f"no tape and no CSV files at {folder}")
    per: dict[str, tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]] = {}
    infos: list[FileInfo] = []
    for i, f in enumerate(files):
        snaps, rows = _read_snapshots(f)
        infos.append(FileInfo(f.name, str(f), "csv", rows=rows,
                              snapshots=sum(sum(a.size for a in v[0]) for v in snaps.values())))
        for name, (tbs_f, tas_f) in snaps.items():
            acc = per.setdefault(name, ([], [], []))
            for tb, ta in zip(tbs_f, tas_f):
                keep = np.ones(tb.size, bool)
                if start_ns is not None:
                    keep &= tb >= start_ns
                if end_ns is not None:
                    keep &= tb < end_ns
                acc[0].append(tb[keep])
                acc[1].append(ta[keep])
                acc[2].append(np.full(int(keep.sum()), i, np.int32))
    out = []
    for name in sorted(per):
        if collector is not None and name != collector:
            continue
        tbs, tas, fis = per[name]
        tb = np.concatenate(tbs) if tbs else np.zeros(0, np.int64)
        n = tb.size
        t = {"seq": np.arange(n, dtype=np.int64), "t_before_ns": tb,
             "t_after_ns": np.concatenate(tas) if tas else tb,
             "unchanged": np.zeros(n, np.uint32)}
        s = _stream(symbol, name, "csv", [t], [], has_seq=False)
        s.file_idx = np.concatenate(fis) if fis else np.zeros(0, np.int32)
        s.files = infos
        out.append(s)
    if collector is not None and not out:
        raise TapeNotFound(f"no rows of collector {collector!r} in the CSVs at {folder} "
                           f"(names found: {sorted(per)})")
    return out


def scan(data: str | Path | Tape, symbol: str | None = None, collector: str | None = None,
         start_ns: int | None = None, end_ns: int | None = None, *,
         exclude: frozenset[str] = frozenset()) -> list[Stream]:
    """Streams of a booktape tape or of a folder of notebook CSVs, whichever ``data`` is."""
    if not isinstance(data, Tape) and is_csv_folder(data):
        return scan_csv_folder(data, collector, start_ns, end_ns, symbol=symbol or "csv")
    streams = scan_tape(data, symbol, collector, start_ns, end_ns, exclude=exclude)
    if not streams:
        from ..read.reader import tape_files

        if not tape_files(data):
            raise TapeNotFound(f"no tape at {data}: no sealed parts, journals or notebook CSVs")
    return streams


# --- the notebook's workflow -------------------------------------------------------------


def concate_files(data: str | Path | list[str | Path], symbol: str | None = None,
                  collector: str | None = None, *, snapshots_only: bool = True) -> pd.DataFrame:
    """The notebook's ``concate_files``, on a tape, a CSV folder or a list of CSV paths.

    Returns a DataFrame with ``name, time_before, time_after, delta, time_mean,
    diff`` (and ``symbol``, ``seq``), one row per snapshot unless
    ``snapshots_only=False`` (level rows, as the notebook had; small tapes only).
    Unlike the notebook it sorts and diffs *per collector*, so two collectors'
    files concatenated do not read as "Time order is invalid". The verdict is in
    ``df.attrs["time_order_kept"]`` (and per collector in
    ``df.attrs["time_order"]``) instead of being printed.
    """
    if isinstance(data, (list, tuple)):
        frames = [concate_files(p, symbol, collector, snapshots_only=snapshots_only)
                  for p in data]
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        return _finish(df)
    if not snapshots_only:
        return _level_rows(data, symbol, collector)
    frames = []
    for s in scan(data, symbol, collector):
        frames.append(pd.DataFrame({
            "symbol": s.symbol, "name": s.collector, "seq": s.seq,
            "time_before": pd.to_datetime(s.t_before, unit="ns"),
            "time_after": pd.to_datetime(s.t_after, unit="ns")}))
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["symbol", "name", "seq", "time_before", "time_after"])
    return _finish(df)


def _level_rows(data: str | Path, symbol: str | None, collector: str | None) -> pd.DataFrame:
    if is_csv_folder(data):
        df = pd.concat([pd.read_csv(f) for f in csv_files(data)], ignore_index=True)
        df = df.rename(columns={c: "level" for c in df.columns[:1] if c not in _KNOWN})
        df["time_after"] = pd.to_datetime(df["time_after"])
        df["time_before"] = pd.to_datetime(df["time_before"])
        df["symbol"] = symbol or "csv"
        if collector is not None:
            df = df[df["name"] == collector]
    else:
        from ..read.reader import read

        df = read(data, symbol, collector)
        df = df.rename(columns={"collector": "name"})
        df["time_before"] = pd.to_datetime(df.pop("t_before_ns"), unit="ns")
        df["time_after"] = pd.to_datetime(df.pop("t_after_ns"), unit="ns")
    return _finish(df.reset_index(drop=True))


def _finish(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        df.attrs.update(time_order_kept=True, time_order={})
        return df
    df["delta"] = df["time_after"] - df["time_before"]
    df["time_mean"] = df["time_before"] + df["delta"] / 2
    verdict: dict[str, bool] = {}
    keys = ["symbol", "name"] if "symbol" in df.columns else ["name"]
    diffs = []
    for key, g in df.groupby(keys, sort=False):
        ok = bool(g["time_mean"].is_monotonic_increasing)
        verdict["/".join(map(str, key if isinstance(key, tuple) else (key,)))] = ok
        g = g.sort_values("time_mean", kind="stable")
        diffs.append(g["time_mean"].diff())
    df["diff"] = pd.concat(diffs).reindex(df.index)
    df.attrs["time_order"] = verdict
    df.attrs["time_order_kept"] = all(verdict.values())
    log.info("Time order is %s", "kept" if df.attrs["time_order_kept"] else "invalid")
    return df


def calculate_diff_components(df: pd.DataFrame, delete_zero_diffs: bool = True) -> pd.DataFrame:
    """The notebook's ``calculate_diff_components``: ``diff`` split into days … nanoseconds.

    With ``delete_zero_diffs`` rows whose diff is exactly zero (levels of one
    snapshot, or two states within one tick of a coarse clock) are dropped, as
    the notebook did; the first row of each collector (NaT) is dropped too.
    """
    d = df["diff"].dropna()
    if delete_zero_diffs:
        d = d[d != pd.Timedelta(0)]
    return d.dt.components


def clock_step_ns(t: np.ndarray, sample: int = 200_000) -> int:
    """The step of a coarse clock (e.g. 1 ms on Windows' ``datetime.now()``), or 0 if fine.

    Distinct stamps of a coarse clock differ by whole steps even when they are not
    multiples of it (``…23.063392`` → ``…23.064392``).
    """
    if t.size < 3:
        return 0
    u = np.unique(t[: sample])
    d = np.diff(u)
    d = d[d > 0]
    if d.size < 2:
        return 0
    step = int(d.min())
    if step < 100_000:  # finer than 0.1 ms: a high-resolution clock
        return 0
    off = d % step
    near = (off <= 2_000) | (off >= step - 2_000)
    return step if near.mean() >= 0.99 else 0

