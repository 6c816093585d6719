"""Every error booktape raises on purpose derives from :class:`BooktapeError`.

The CLI turns these into a one-line ``Error: ...`` and an exit code (2 for bad
input, 1 for a failed check); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class BooktapeError(Exception):
    """Base of every deliberate booktape error."""

    exit_code = 2


class BadArgument(BooktapeError):
    """A user-supplied value (option, path, symbol) is malformed or not allowed."""


class TapeNotFound(BooktapeError):
    """The path holds no booktape tape (no parts and no journals)."""


class TapeDamaged(BooktapeError):
    """A file of the tape is damaged: a checksum fails, a batch or manifest line is unreadable."""

    exit_code = 1


class ChecksumMismatch(TapeDamaged):
    """A sealed part's bytes do not match the checksum in its manifest."""


class JournalCorrupt(TapeDamaged):
    """A journal cannot be read at all (not even a readable prefix)."""


class TapeNotWritable(BooktapeError, OSError):
    """The tape's disk is full or not writable; what was on it is kept as it was."""

    # An OSError too: code that handles a failing disk (a saver that exits to be
    # restarted) keeps handling it when it comes from recovery.


class CollectorBusy(BooktapeError):
    """Another live recorder holds the lock of this collector in this tape."""


class SourceUnavailable(BooktapeError):
    """The market-data source cannot be opened or has failed for good."""


class SourceError(BooktapeError):
    """A source call failed in a way that may clear up (retryable)."""


class BusUnavailable(BooktapeError):
    """The NATS server (or its JetStream) cannot be reached right now (retryable)."""


class BusRefused(BooktapeError):
    """The NATS server refused us for good: bad credentials, or a stream that would lose data."""


class UnguardedMain(BooktapeError):
    """A script called ``record()`` without ``if __name__ == "__main__":`` under spawn."""

    exit_code = 2


def bad_toml(what: str, err: Exception, text: str) -> BadArgument:
    """A TOML syntax error as one line, with the fix for the commonest one on Windows:
    a path in "double quotes", where TOML reads ``\\U`` or ``\\d`` as an escape."""
    hint = ""
    if any('"' in line and "\\" in line for line in text.splitlines()):
        hint = (" (a Windows path in \"double quotes\" is read with \\ as an escape: write it in"
                " 'single quotes', e.g. out = 'D:\\Data\\RTS', or with / instead of \\)")
    return BadArgument(f"{what}: not valid TOML: {err}{hint}")
