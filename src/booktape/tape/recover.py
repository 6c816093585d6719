"""Seal journals left behind by a recorder that died (SIGKILL, power loss)."""

from __future__ import annotations

import logging
from pathlib import Path

from .layout import JOURNAL_RE, lock_path, parse_partition, partition_dirs
from .lock import CollectorLock
from .manifest import PartEntry
from .seal import seal_journal

log = logging.getLogger(__name__)


def orphan_journals(root: Path, collector: str | None = None, *,
                    lock_held: bool = False) -> list[Path]:
    """Journals whose collector has no live recorder.

    ``lock_held``: the caller holds ``collector``'s lock itself (a starting
    recorder), so that collector's journals are orphans by definition.
    """
    out = []
    busy: dict[str, bool] = {collector: False} if (lock_held and collector) else {}
    for d in partition_dirs(root, collector=collector):
        c = parse_partition(d).get("collector", "")
        if c not in busy:
            busy[c] = CollectorLock(lock_path(root, c)).is_held_elsewhere()
        if busy[c]:
            continue
        out += sorted(p for p in d.iterdir() if JOURNAL_RE.match(p.name))
    return out


def recover(root: Path, now_ns: int, collector: str | None = None, *,
            lock_held: bool = False) -> list[tuple[Path, PartEntry | None]]:
    """Seal every orphan journal under ``root``; returns what each became."""
    done = []
    for j in orphan_journals(root, collector, lock_held=lock_held):
        # A temp file of a seal interrupted before its rename is garbage: the
        # journal it came from is still here and is sealed again below.
        tmp = j.parent / f"_{j.name[1:].replace('.arrows', '.parquet')}.tmp"
        tmp.unlink(missing_ok=True)
        entry = seal_journal(j, now_ns)
        log.info("recovered %s -> %s", j, entry.part if entry else "(empty, removed)")
        done.append((j, entry))
    return done
