"""Where an export writes: a regular file (atomically), a stream, or a device.

Issue 14: ``export --csv /dev/stdout`` run as root wrote ``/dev/stdout.tmp``
and renamed it over the ``/dev/stdout`` symlink, leaving a 7.6 GB regular file
where the link was. The rule here: a temporary file is renamed only over a
regular file or over nothing. Anything else that exists — a symlink, a
character device, a FIFO — is opened and written in place, so ``/dev/stdout``
is standard output again. A failed or interrupted export removes its ``.tmp``.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import BadArgument
from ..outpaths import check_out_file


def check_target(out: str | Path, option: str) -> Path:
    """``out`` as a path that can be written; raises :class:`BadArgument` before any work."""
    if str(out) == "":
        raise BadArgument(f"{option} is empty; give a file name, or - for standard output")
    p = Path(out)
    if os.path.lexists(p) and not _regular_or_absent(p) and not p.is_dir():
        return p  # a device, FIFO or link to one: written in place, if it lets us
    return check_out_file(p, option)


def _regular_or_absent(p: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(p).st_mode)
    except FileNotFoundError:
        return True


@contextlib.contextmanager
def open_target(out: str | Path | BinaryIO, option: str = "--out") -> Iterator[BinaryIO]:
    """A binary file to write an export into.

    Args:
        out: a path, or an open binary stream (standard output) written as is.
        option: the option's name, for error messages.

    A regular file (or a new one) is written as ``NAME.tmp``, flushed, fsync'd
    and renamed over ``NAME`` only when the body finishes; on any error or
    interrupt the ``.tmp`` is removed and ``NAME`` is left as it was.
    """
    if not isinstance(out, (str, Path)):
        yield out
        out.flush()
        return
    p = check_target(out, option)
    if not _regular_or_absent(p):
        with open(p, "wb") as fh:  # a device, FIFO or symlink: write through it
            yield fh
        return
    tmp = p.with_name(p.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
