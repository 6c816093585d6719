"""Reading the ``--ticks`` side streams (trades, server time) back."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import BadArgument
from ..tape.layout import partition_dirs
from ..tape.side_streams import STREAMS


def read_stream(root: str | Path, stream: str, symbol: str | None = None,
                collector: str | None = None) -> pa.Table:
    """The sealed rows of ``ticks`` (trades) or ``server_time`` under a tape, seq order."""
    if stream not in STREAMS:
        raise BadArgument(f"stream {stream!r} is not one of {', '.join(STREAMS)}")
    sub, schema, _ = STREAMS[stream]
    base = Path(root) / sub
    tables = []
    for d in partition_dirs(base, symbol, collector):
        for p in sorted(d.glob("part-*.parquet")):
            # One file, not pq.read_table: pyarrow 18 adds the symbol=/date=/collector=
            # directories as columns to a single part (issue 10).
            t = pq.ParquetFile(p).read()
            sym = d.parent.parent.name.partition("=")[2]
            col = d.name.partition("=")[2]
            t = t.append_column("symbol", pa.array([sym] * t.num_rows, pa.string()))
            t = t.append_column("collector", pa.array([col] * t.num_rows, pa.string()))
            tables.append(t)
    if not tables:
        return schema.empty_table().append_column(
            "symbol", pa.array([], pa.string())).append_column("collector", pa.array([], pa.string()))
    out = pa.concat_tables(tables, promote_options="permissive")
    return out.sort_by([("symbol", "ascending"), ("collector", "ascending"), ("seq", "ascending")])
