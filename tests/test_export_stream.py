"""``export`` streams a day in bounded memory, with the bytes it always wrote (issues 12, 14).

Every export (the notebook's CSV, and the views as CSV, JSON lines, Parquet) is
formatted a slice of rows at a time; the output must not depend on the slice.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from booktape.capture.frame import ChunkBuilder, decode
from booktape.clock import ManualClock
from booktape.read.export import export_csv, export_view
from booktape.tape.writer import TapeWriter, WriterConfig

T0 = 1_764_140_400_000_000_000  # 2025-11-26 07:00 UTC


def _books(rng: np.random.Generator, n: int):  # type: ignore[no-untyped-def]
    for _ in range(n):
        asks, bids = int(rng.integers(0, 6)), int(rng.integers(0, 6))
        mid = 100_000 + 10 * int(rng.integers(-5, 6))
        book = [(1, float(mid + 10 * (asks - i)), int(v), float(v) + 0.25)
                for i, v in enumerate(rng.integers(1, 50, asks))]
        book += [(2, float(mid - 10 * (i + 1)), int(v), float(v)) for i, v in
                 enumerate(rng.integers(1, 50, bids))]
        yield tuple(book)


@pytest.fixture(scope="module")
def fixed_tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 500 seeded states (empty books too): two sealed parts and an open journal."""
    root = tmp_path_factory.mktemp("exps") / "data"
    clock = ManualClock(T0)
    rng = np.random.default_rng(7)
    books = list(_books(rng, 1500))
    w = TapeWriter(root, "zero", clock, meta={"session": "s1", "source": "test"},
                   config=WriterConfig(rotate_bytes=24_000))
    for lo in range(0, 1200, 100):
        b = ChunkBuilder()
        for s in range(lo, lo + 100):
            t = T0 + s * 1_000_000 + int(rng.integers(0, 500_000))
            b.add(0, s, t, t + 2_345, int(rng.integers(0, 3)), 7_000, books[s])
        w.append("RIU2", decode(b.take())[0])
    w.close()
    w2 = TapeWriter(root, "zero", clock, meta={"session": "s2", "source": "test"})
    b = ChunkBuilder()
    for s in range(1200, 1500):
        t = T0 + s * 1_000_000
        b.add(0, s, t, t + 2_345, 0, 7_000, books[s])
    w2.append("RIU2", decode(b.take())[0])
    w2.sync()
    yield root
    w2.close()


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


# sha256 of what export wrote for ``fixed_tape`` before it streamed in small batches
# (commit 69e729a, a row group at a time): the bytes must not change.
GOLDEN = {
    "nb": "79716113203c8233e7235cd28c99dcd632ac32f8a7e93c073518b0848369f2e6",
    "nb-moscow-window": "db0baddebaf8c4754beeb85c830f67ce984e010a2e8a6a0c820966b40dadd4c6",
    "levels.csv": "eef288d5d6f86c17b47c5c805395dadfb60da30cfdcf946a941720758ad9c300",
    "levels.jsonl": "9f6877c994fec28c6c93660c65e5e56d3fe2f0679c5d603b165dc323824f6110",
    "quotes.csv": "28583637e50e4e50ce1799268e7cc47726eb5f1e9582ac06a8b75109fadc8dd5",
    "quotes.jsonl": "8e1266df0fca62ea9365fb6d1183bdaa5b5beb5f21f576bc4cbf7e2e0b21bf23",
    "top5.csv": "0d304c4af6cf8d01bf246a01700251442ddf96c0174b4cddd58700091d604576",
    "top5.jsonl": "d07cb22987bfd07003e423fa4047f2628ccb10b91266d87619c6847506092018",
}


@pytest.mark.parametrize("rows", [97, None])
def test_export_bytes_do_not_depend_on_the_batch(fixed_tape: Path, tmp_path: Path,
                                                 rows: int | None) -> None:
    assert len(list(fixed_tape.rglob("part-*.parquet"))) >= 2  # parts and a journal
    assert list(fixed_tape.rglob("*.arrows"))
    kw = {} if rows is None else {"batch_rows": rows}
    got = {}
    export_csv(fixed_tape, tmp_path / "nb.csv", **kw)
    got["nb"] = _sha(tmp_path / "nb.csv")
    export_csv(fixed_tape, tmp_path / "nbm.csv", tz="Europe/Moscow",
               start="2025-11-26T07:00:00.3", **kw)
    got["nb-moscow-window"] = _sha(tmp_path / "nbm.csv")
    for view in ("levels", "quotes", "top5"):
        for fmt in ("csv", "jsonl"):
            p = tmp_path / f"{view}.{fmt}"
            export_view(fixed_tape, p, view, fmt, **kw)
            got[f"{view}.{fmt}"] = _sha(p)
    assert got == GOLDEN


def test_export_parquet_same_table_whatever_the_batch(fixed_tape: Path, tmp_path: Path) -> None:
    for view in ("levels", "quotes", "top5"):
        whole = tmp_path / f"{view}-whole.parquet"
        small = tmp_path / f"{view}-small.parquet"
        n = export_view(fixed_tape, whole, view, "parquet", batch_rows=1 << 30)
        assert export_view(fixed_tape, small, view, "parquet", batch_rows=5) == n
        # Through pandas: Arrow's equals calls an empty book's NaN price unequal to itself.
        pd.testing.assert_frame_equal(pq.read_table(small).to_pandas(),
                                      pq.read_table(whole).to_pandas())
        assert pq.read_table(small).num_rows == n > 0


def test_local_time_text_is_the_same_without_pyarrows_tz_database() -> None:
    """pyarrow on Windows has no IANA tz database (the lane's export failed: "Cannot locate
    timezone 'UTC'"); the pandas path it falls back to writes the very same text."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from booktape.read.export import ISO_LOCAL, iso_local, iso_local_pandas

    # Berlin's clocks went forward at 2024-03-31 01:00 UTC.
    edge = [1711846799999999999, 1711846800000000000, None, 5]
    col = pa.chunked_array([pa.array(edge, pa.int64()).cast(pa.timestamp("ns"))])
    want = ["2024-03-31T01:59:59.999999999+0100", "2024-03-31T03:00:00.000000000+0200", None,
            "1970-01-01T01:00:00.000000005+0100"]
    local = col.cast(pa.timestamp("ns", tz="Europe/Berlin"))
    assert iso_local_pandas(local, "Europe/Berlin").to_pylist() == want
    assert pa.chunked_array([iso_local(col, "Europe/Berlin")]).to_pylist() == want
    if os.name != "nt":  # where pyarrow has its database: both paths agree everywhere
        ns = np.random.default_rng(7).integers(0, 2 * 10**18, 3000)
        many = pa.array(ns, pa.int64()).cast(pa.timestamp("ns"))
        for tz in ("Europe/Moscow", "America/New_York", "UTC"):
            loc = many.cast(pa.timestamp("ns", tz=tz))
            assert iso_local_pandas(loc, tz).equals(pc.strftime(loc, ISO_LOCAL))
