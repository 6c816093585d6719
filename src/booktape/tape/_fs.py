"""Durable file operations: fsync a file, a directory, an atomic replace."""

from __future__ import annotations

import os
from pathlib import Path


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
