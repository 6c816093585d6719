"""What a ``part-*.parquet`` file that no manifest lists is (issue 14).

``verify`` used to call every such file "a seal interrupted before its manifest
line: run `booktape recover`", and ``recover`` then said "nothing to recover"
when the file was someone else's Parquet file. Only a file whose journal is
still beside it is what ``recover`` fixes; anything else is named for what it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .layout import JOURNAL_RE, MANIFEST, PART_RE, journal_name, part_number, partition_dirs
from .manifest import read_manifest


@dataclass(frozen=True)
class Unlisted:
    """A part-named file no manifest line lists, and what it is."""

    path: Path
    recoverable: bool  # its journal is beside it: `booktape recover` seals it again
    what: str  # one sentence for the user, ending with the next step


def describe(path: Path) -> Unlisted:
    """Say what an unlisted ``part-*.parquet`` is, reading only its footer."""
    n = part_number(path.name)
    if n is not None and (path.parent / journal_name(n)).exists():
        return Unlisted(path, True, f"{path.name} is on disk but not in the manifest (a seal "
                        "interrupted before its manifest line: run `booktape recover`)")
    try:
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).metadata
    except Exception as e:  # noqa: BLE001 - any unreadable footer means "not a Parquet file"
        size = path.stat().st_size if path.exists() else 0
        return Unlisted(path, False, f"{path.name} is not a Parquet file ({size:,} bytes; "
                        f"{str(e).splitlines()[0][:80]}): not booktape's; move it out of the tape")
    kv = {k.decode(errors="replace"): v.decode(errors="replace")
          for k, v in (meta.metadata or {}).items()}
    cols = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if "booktape.schema_version" not in kv:
        shown = ", ".join(cols[:6]) + (", …" if len(cols) > 6 else "")
        return Unlisted(path, False, f"{path.name} is a Parquet file booktape did not write "
                        f"({meta.num_rows:,} rows; columns {shown}; no booktape metadata): "
                        "booktape's readers skip it; move it out of the tape")
    where = (f"collector {kv.get('booktape.collector', '?')}, seq "
             f"{kv.get('booktape.seq_min', '?')}..{kv.get('booktape.seq_max', '?')}, session "
             f"{kv.get('booktape.session', '?')}")
    return Unlisted(path, False, f"{path.name} is on disk but not in the manifest: a booktape "
                    f"part ({where}) whose manifest line is lost: run `booktape verify --repair`")


def unlisted_parts(root: Path, symbol: str | None = None,
                   collector: str | None = None) -> list[Unlisted]:
    """Every unlisted ``part-*.parquet`` under a tape's partitions, described."""
    out = []
    for d in partition_dirs(root, symbol, collector):
        listed = {e.part for e in read_manifest(d)} if (d / MANIFEST).exists() else set()
        for p in sorted(d.iterdir()):
            if PART_RE.match(p.name) and p.name not in listed and not JOURNAL_RE.match(p.name):
                out.append(describe(p))
    return out
