"""An exclusive, crash-released lock per collector: one live recorder each.

The OS drops the lock when the holder dies (even by SIGKILL), so a stale
lock file never blocks recovery. Hand-written because the standard library
has no portable file lock and the small `filelock` package would be the only
reason to add a dependency here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from ..errors import CollectorBusy, TapeNotWritable


class CollectorLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._f: IO[str] | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            f = open(self.path, "a+")
        except OSError as e:  # a directory in its place, a read-only tape (issue 11)
            raise TapeNotWritable(f"cannot open the lock file {self.path}: "
                                  f"{e.strerror or e}") from None
        try:
            if os.name == "nt":
                import msvcrt

                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            else:
                import fcntl

                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            raise CollectorBusy(
                f"another recorder is writing collector {self.path.stem.split('=', 1)[-1]!r} "
                f"in this tape (lock {self.path}); use a different --collector name"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._f = f

    def is_held_elsewhere(self) -> bool:
        """True when a live process holds the lock (we try to take it briefly).

        A lock file that cannot be opened (a read-only tape, damage) is held by
        no live recorder: no recorder could have opened it either.
        """
        if not self.path.is_file():
            return False
        try:
            self.acquire()
        except CollectorBusy:
            return True
        except TapeNotWritable:
            return False
        self.release()
        return False

    def release(self) -> None:
        if self._f is not None:
            if os.name == "nt":
                import msvcrt

                try:
                    self._f.seek(0)
                    msvcrt.locking(self._f.fileno(), msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
                except OSError:
                    pass
            self._f.close()
            self._f = None

    def __enter__(self) -> CollectorLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
