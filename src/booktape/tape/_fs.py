"""Durable file operations: fsync a file, a directory, an atomic replace."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)


def fsync_dir(path: Path) -> None:
    """Make a rename or create inside ``path`` durable (a no-op on Windows)."""
    if os.name == "nt":
        # Windows cannot open a directory with os.open, so there is nothing to
        # fsync. Durability still holds: NTFS journals the rename in its
        # metadata log, which is written in order and flushed by the next
        # FlushFileBuffers (os.fsync) on the volume - the manifest line's
        # fsync after every seal - and until the manifest line is durable the
        # journal is kept, so `recover` can seal it again (issue 10).
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(tmp: Path, final: Path) -> None:
    """``tmp`` (already fsync'd) becomes ``final`` atomically, and the rename is durable."""
    os.replace(tmp, final)
    fsync_dir(final.parent)


def append_line_durably(path: Path, line: str) -> None:
    """Append one line and fsync: the manifest's commit point."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def unlink_sealed(path: Path, wait_s: float = 5.0) -> bool:
    """Delete a file whose data is already committed elsewhere (a sealed journal).

    Windows refuses to delete a file another process has open without
    share-delete, as Python's ``open`` and pyarrow open for reading: a reader
    of the journal (``booktape analyze``, pandas) during a seal gets a
    sharing violation to the recorder (issue 10). Readers close soon, so
    we retry; if one holds on past ``wait_s`` the journal stays - harmless,
    since its part is in the manifest (readers skip it, and ``recover`` or
    the next ``record`` deletes it) - rather than failing a committed seal.

    Returns:
        True when the file is gone.
    """
    deadline = time.monotonic() + wait_s
    delay = 0.01
    while True:
        try:
            path.unlink(missing_ok=True)
            return True
        except PermissionError:
            if os.name != "nt":
                raise
            if time.monotonic() >= deadline:
                log.warning("%s is sealed but still open in another process; it is deleted "
                            "by the next `booktape recover` or `record` of this collector", path)
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
