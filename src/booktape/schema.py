"""The one Arrow schema of a book tape, and the key-value metadata it carries.

One row per book level (the notebook's long format). ``symbol``, ``date`` and
``collector`` are *not* columns in the files: they are Hive partition keys in
the path, so DuckDB/Polars/Spark/pyarrow get them from the layout and never
see a column twice. :func:`booktape.read` adds them back as columns.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "1"

BOOK_SCHEMA = pa.schema(
    [
        pa.field("seq", pa.uint64(), nullable=False),  # stored-snapshot number per collector
        pa.field("t_before_ns", pa.int64(), nullable=False),  # wall ns just before the poll
        pa.field("t_after_ns", pa.int64(), nullable=False),  # wall ns just after the poll
        pa.field("unchanged", pa.uint32(), nullable=False),  # unchanged polls since previous state
        # No state missed since the previous stored state lasted longer than this
        # (issue 13); null in tapes recorded before the column existed: unknown.
        pa.field("blind_ns", pa.int64(), nullable=True),
        pa.field("level", pa.int16(), nullable=False),  # row index within the snapshot
        pa.field("type", pa.int8(), nullable=False),  # MT5 BOOK_TYPE_*: 1 sell, 2 buy, 3, 4
        pa.field("price", pa.float64(), nullable=False),
        pa.field("volume", pa.int64(), nullable=False),
        pa.field("volume_dbl", pa.float64(), nullable=False),
    ],
    metadata={b"booktape.schema_version": SCHEMA_VERSION.encode()},
)

#: Columns that hold one value per snapshot (repeated on each of its level rows).
SNAPSHOT_COLUMNS = ("seq", "t_before_ns", "t_after_ns", "unchanged", "blind_ns")

#: The book schema of tapes recorded before ``blind_ns`` existed (still read: bound unknown).
LEGACY_BOOK_SCHEMA = BOOK_SCHEMA.remove(BOOK_SCHEMA.get_field_index("blind_ns"))

#: Hive keys, outermost first.
PARTITION_KEYS = ("symbol", "date", "collector")

META_PREFIX = "booktape."


def with_metadata(schema: pa.Schema, meta: dict[str, str]) -> pa.Schema:
    """The schema with extra ``booktape.*`` key-value metadata merged in."""
    md = dict(schema.metadata or {})
    md.update({(META_PREFIX + k).encode(): str(v).encode() for k, v in meta.items()})
    return schema.with_metadata(md)


def metadata_of(schema: pa.Schema) -> dict[str, str]:
    """The ``booktape.*`` metadata of a schema as plain strings (prefix removed)."""
    out = {}
    for k, v in (schema.metadata or {}).items():
        ks = k.decode()
        if ks.startswith(META_PREFIX):
            out[ks[len(META_PREFIX):]] = v.decode()
    return out

#: Columns a merged tape (``booktape merge``) adds after the book columns, one
#: value per snapshot: ``seen_by`` is a bitmask over the collectors listed in the
#: ``booktape.merge_collectors`` metadata (bit k = k-th collector), ``first_by``
#: the index of the collector whose observation (timestamps, levels) the row
#: carries, ``src_seq`` that collector's own ``seq`` of it.
MERGE_FIELDS = (
    pa.field("seen_by", pa.uint64(), nullable=False),
    pa.field("first_by", pa.uint8(), nullable=False),
    pa.field("src_seq", pa.uint64(), nullable=False),
)

MERGED_SCHEMA = pa.schema([*BOOK_SCHEMA, *MERGE_FIELDS], metadata=BOOK_SCHEMA.metadata)
