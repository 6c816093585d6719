"""Seal journals left behind by a recorder that died (SIGKILL, power loss).

Book journals, and those of the side streams ``--ticks`` records beside them
(trades under ``_ticks/``, server-time samples under ``_server_time/``),
which are sealed with their own dedupe key and time columns.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .layout import (
    JOURNAL_RE,
    SERVER_TIME_DIR,
    TICKS_DIR,
    lock_path,
    parse_partition,
    partition_dirs,
)
from .lock import CollectorLock
from .manifest import PartEntry
from .seal import seal_journal

log = logging.getLogger(__name__)

#: Side streams: directory under the tape, seal keyword arguments.
SIDE_STREAMS: tuple[tuple[str, dict[str, object]], ...] = (
    (TICKS_DIR, {"keys": ("seq",), "time_cols": ("time_ns", "time_ns")}),
    (SERVER_TIME_DIR, {"keys": ("seq",), "time_cols": ("t_before_ns", "t_after_ns")}),
)


def orphan_journals(root: Path, collector: str | None = None, *,
                    lock_held: bool = False, under: Path | None = None) -> list[Path]:
    """Journals whose collector has no live recorder (in ``under``, default the tape).

    ``lock_held``: the caller holds ``collector``'s lock itself (a starting
    recorder), so that collector's journals are orphans by definition.
    """
    out = []
    busy: dict[str, bool] = {collector: False} if (lock_held and collector) else {}
    for d in partition_dirs(under or root, collector=collector):
        c = parse_partition(d).get("collector", "")
        if c not in busy:
            busy[c] = CollectorLock(lock_path(root, c)).is_held_elsewhere()
        if busy[c]:
            continue
        out += sorted(p for p in d.iterdir() if JOURNAL_RE.match(p.name))
    return out


def recover(root: Path, now_ns: int, collector: str | None = None, *,
            lock_held: bool = False, side_streams: bool = True
            ) -> list[tuple[Path, PartEntry | None]]:
    """Seal every orphan journal under ``root``; returns what each became.

    ``side_streams=False`` leaves ``--ticks`` journals alone: a restarted
    saver uses it, since the recorder that holds the lock may be writing them.
    """
    done = _seal_orphans(root, root, now_ns, collector, lock_held, {})
    if side_streams:
        for sub, kw in SIDE_STREAMS:
            done += _seal_orphans(root, root / sub, now_ns, collector, lock_held, kw)
    return done


def recover_side_streams(root: Path, now_ns: int, collector: str, *,
                         lock_held: bool = False) -> list[tuple[Path, PartEntry | None]]:
    """Seal only the side streams' orphan journals (a starting ``--ticks`` recorder)."""
    done = []
    for sub, kw in SIDE_STREAMS:
        done += _seal_orphans(root, root / sub, now_ns, collector, lock_held, kw)
    return done


def _seal_orphans(root: Path, under: Path, now_ns: int, collector: str | None, lock_held: bool,
                  kw: dict[str, object]) -> list[tuple[Path, PartEntry | None]]:
    done = []
    for j in orphan_journals(root, collector, lock_held=lock_held, under=under):
        # A temp file of a seal interrupted before its rename is garbage: the
        # journal it came from is still here and is sealed again below.
        tmp = j.parent / f"_{j.name[1:].replace('.arrows', '.parquet')}.tmp"
        tmp.unlink(missing_ok=True)
        entry = seal_journal(j, now_ns, None, **kw)
        log.info("recovered %s -> %s", j, entry.part if entry else "(empty, removed)")
        done.append((j, entry))
    return done
