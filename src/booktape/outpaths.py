"""Output paths checked before any work, so a typo costs a second, not a traceback (issue 14).

``analyze --html nodir/r.html`` used to fail with a traceback after minutes of
analysis; every command that writes a file or a directory calls one of these
first. They only look at the file system (nothing is created).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import BadArgument


def _nearest_existing(p: Path) -> Path:
    q = p.absolute()
    while not q.exists() and q != q.parent:
        q = q.parent
    return q


def check_out_file(path: str | Path, option: str) -> Path:
    """``path`` can be written as a file: its folder exists and it is not a directory.

    Raises:
        BadArgument: naming ``option``, the path and what is wrong.
    """
    p = Path(path)
    if str(path) == "":
        raise BadArgument(f"{option} is empty; give a file name")
    if p.is_dir():
        raise BadArgument(f"{option} {p} is a directory; give a file name")
    parent = p.absolute().parent
    if not parent.is_dir():
        what = "is a file" if parent.exists() else "does not exist"
        raise BadArgument(f"{option} {p}: the folder {parent} {what}; create it first")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise BadArgument(f"{option} {p} is not writable")
    return p


def check_out_dir(path: str | Path, option: str) -> Path:
    """``path`` is, or can be created as, a directory (no part of it is a file).

    Raises:
        BadArgument: naming ``option``, the path and what is wrong.
    """
    p = Path(path)
    if str(path) == "":
        raise BadArgument(f"{option} is empty; give a directory")
    if p.exists() and not p.is_dir():
        raise BadArgument(f"{option} {p} is a file; give a directory")
    q = _nearest_existing(p)
    if not q.is_dir():
        raise BadArgument(f"{option} {p}: {q} is a file, not a directory")
    if not os.access(q, os.W_OK):
        raise BadArgument(f"{option} {p}: {q} is not writable")
    return p
