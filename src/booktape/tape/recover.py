"""Seal journals left behind by a recorder that died (SIGKILL, power loss).

Book journals, and those of the side streams ``--ticks`` records beside them
(trades under ``_ticks/``, server-time samples under ``_server_time/``),
which are sealed with their own dedupe key and time columns.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import TapeNotWritable
from .layout import JOURNAL_RE, SERVER_TIME_DIR, TICKS_DIR, parse_partition
from .seal import Sealed, seal_journal_report
from .tape import Tape

log = logging.getLogger(__name__)

#: Side streams: directory under the tape, seal keyword arguments.
SIDE_STREAMS: tuple[tuple[str, dict[str, object]], ...] = (
    (TICKS_DIR, {"keys": ("seq",), "time_cols": ("time_ns", "time_ns")}),
    (SERVER_TIME_DIR, {"keys": ("seq",), "time_cols": ("t_before_ns", "t_after_ns")}),
)


def orphan_journals(root: Path | Tape, collector: str | None = None, *,
                    lock_held: bool = False, under: str | None = None) -> list[Path]:
    """Journals whose collector has no live recorder (in side stream ``under``, default the tape).

    ``lock_held``: the caller holds ``collector``'s lock itself (a starting
    recorder), so that collector's journals are orphans by definition; a
    :class:`Tape` that holds the lock says so itself.
    """
    tape = root if isinstance(root, Tape) else Tape(root)
    out = []
    busy: dict[str, bool] = {collector: False} if (lock_held and collector) else {}
    dirs = tape.partitions(collector=collector, under=under)
    for d in dirs:
        c = parse_partition(d).get("collector", "")
        if c not in busy:
            busy[c] = tape.busy(c)
        if busy[c]:
            continue
        out += sorted(p for p in d.iterdir() if JOURNAL_RE.match(p.name))
    return out


def recover(root: Path | Tape, now_ns: int, collector: str | None = None, *,
            lock_held: bool = False, side_streams: bool = True) -> list[Sealed]:
    """Seal every orphan journal under ``root``; returns what each became.

    A journal with damaged batches is sealed from those that verify and kept
    aside with a report (:attr:`Sealed.quarantine`). ``side_streams=False``
    leaves ``--ticks`` journals alone: a restarted saver uses it, since the
    recorder that holds the lock may be writing them.
    """
    tape = root if isinstance(root, Tape) else Tape(root)
    done = _seal_orphans(tape, None, now_ns, collector, lock_held, {})
    if side_streams:
        for sub, kw in SIDE_STREAMS:
            done += _seal_orphans(tape, sub, now_ns, collector, lock_held, kw)
    return done


def recover_side_streams(root: Path | Tape, now_ns: int, collector: str, *,
                         lock_held: bool = False) -> list[Sealed]:
    """Seal only the side streams' orphan journals (a starting ``--ticks`` recorder)."""
    tape = root if isinstance(root, Tape) else Tape(root)
    done = []
    for sub, kw in SIDE_STREAMS:
        done += _seal_orphans(tape, sub, now_ns, collector, lock_held, kw)
    return done


def _seal_orphans(tape: Tape, under: str | None, now_ns: int, collector: str | None,
                  lock_held: bool, kw: dict[str, object]) -> list[Sealed]:
    done: list[Sealed] = []
    for j in orphan_journals(tape, collector, lock_held=lock_held, under=under):
        # A temp file of a seal interrupted before its rename is garbage: the
        # journal it came from is still here and is sealed again below.
        tmp = j.parent / f"_{j.name[1:].replace('.arrows', '.parquet')}.tmp"
        tmp.unlink(missing_ok=True)
        try:
            res = seal_journal_report(j, now_ns, None, **kw)
        except OSError as e:
            raise TapeNotWritable(
                f"cannot write the tape under {tape.root}: {e.strerror or e} (while sealing "
                f"{j.name}). {len(done)} journal(s) sealed so far; the rest are kept as they "
                "were: run `booktape recover` again once there is room") from None
        log.info("recovered %s -> %s", j, res.entry.part if res.entry else "(nothing to seal)")
        done.append(res)
    return done
