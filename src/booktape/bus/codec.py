"""A chunk as a NATS message: headers that say whose states these are, Arrow IPC as the payload.

Headers: ``Nats-Msg-Id`` (``<collector>/<symbol>/<first seq>-<last seq>``, JetStream's
de-duplication key), ``Booktape-Collector``, ``Booktape-Symbol``,
``Booktape-First``/``Booktape-Last`` (the seq range), ``Booktape-Base`` (the
first seq this collector ever published for the symbol: where a sink with
nothing yet starts), ``Booktape-Session`` and ``Booktape-Schema``. The
payload is one zstd-compressed Arrow IPC stream in the tape's schema.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ..schema import BOOK_SCHEMA, SCHEMA_VERSION
from ..tape.layout import check_name
from .subjects import msg_id, subject_for

_OPTIONS = pa.ipc.IpcWriteOptions(compression=pa.Codec("zstd", compression_level=1))
H_COLLECTOR, H_SYMBOL = "Booktape-Collector", "Booktape-Symbol"
H_FIRST, H_LAST, H_BASE = "Booktape-First", "Booktape-Last", "Booktape-Base"
H_SESSION, H_SCHEMA = "Booktape-Session", "Booktape-Schema"


class ForeignMessage(Exception):
    """A message on our subjects that is not a booktape chunk (quarantined by the sink)."""


@dataclass(frozen=True)
class Chunk:
    collector: str
    symbol: str
    first: int
    last: int
    base: int
    table: pa.Table


def seq_range(batch: pa.RecordBatch | pa.Table) -> tuple[int, int]:
    seq = batch.column("seq")
    return int(pc.min(seq).as_py()), int(pc.max(seq).as_py())


def encode(prefix: str, collector: str, symbol: str, batch: pa.RecordBatch | pa.Table,
           base: int, session: str) -> tuple[str, dict[str, str], bytes]:
    """``(subject, headers, payload)`` of one chunk of one symbol."""
    first, last = seq_range(batch)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, BOOK_SCHEMA, options=_OPTIONS) as w:
        if isinstance(batch, pa.Table):
            w.write_table(batch)
        else:
            w.write_batch(batch)
    headers = {"Nats-Msg-Id": msg_id(collector, symbol, first, last), H_COLLECTOR: collector,
               H_SYMBOL: symbol, H_FIRST: str(first), H_LAST: str(last), H_BASE: str(base),
               H_SESSION: session, H_SCHEMA: str(SCHEMA_VERSION)}
    return subject_for(prefix, collector, symbol), headers, sink.getvalue().to_pybytes()


def decode(headers: dict[str, str] | None, payload: bytes) -> Chunk:
    """The chunk a message carries.

    Raises:
        ForeignMessage: it lacks booktape's headers, or its payload is not rows of the tape's schema.
    """
    h = headers or {}
    missing = [k for k in (H_COLLECTOR, H_SYMBOL, H_FIRST, H_LAST, H_BASE) if k not in h]
    if missing:
        raise ForeignMessage(f"no {', '.join(missing)} header")
    try:
        collector = check_name("collector", h[H_COLLECTOR])
        symbol = check_name("symbol", h[H_SYMBOL])
        first, last, base = int(h[H_FIRST]), int(h[H_LAST]), int(h[H_BASE])
    except Exception as e:
        raise ForeignMessage(f"bad booktape header: {e}") from None
    if h.get(H_SCHEMA, str(SCHEMA_VERSION)) != str(SCHEMA_VERSION):
        raise ForeignMessage(f"schema version {h.get(H_SCHEMA)} (this booktape reads {SCHEMA_VERSION})")
    try:
        table = pa.ipc.open_stream(pa.py_buffer(payload)).read_all()
    except (pa.ArrowInvalid, OSError) as e:
        raise ForeignMessage(f"payload is not an Arrow IPC stream: {e}") from None
    if not table.schema.equals(BOOK_SCHEMA):
        raise ForeignMessage("payload rows are not in the tape's schema")
    if table.num_rows == 0 or seq_range(table) != (first, last):
        raise ForeignMessage("payload seq range does not match its headers")
    return Chunk(collector, symbol, first, last, base, table)
