"""Output that never crashes on a narrow code page (issue 10).

A scheduled task or ``booktape record ... > log.txt`` on Windows writes
through the ANSI code page (cp1252, cp1251 on Russian systems), which lacks
``−``, ``→``, ``●``, ``✗`` and rich's box lines. A strict stream raises
``UnicodeEncodeError`` after the recording is sealed, and the job ends in a
traceback with exit 1. On such streams each character the code page cannot
hold is written as an ASCII look-alike instead, so the log stays readable
(``->``, not ``?``). Consoles and UTF-8 streams never reach the handler and
keep today's symbols.
"""

from __future__ import annotations

import codecs
import io
import sys
import unicodedata

HANDLER = "booktape-ascii"

# Hand-written: the standard library's "replace" gives "?" and "backslashreplace"
# gives "\u2192", neither readable in a log; no small library does this mapping.
_ASCII = {
    "−": "-", "–": "-", "—": "-", "→": "->", "←": "<-", "↔": "<->", "·": "|",
    "●": "*", "•": "*", "…": "...", "×": "x", "✗": "x", "✓": "v", "±": "+/-",
    "µ": "u", "≈": "~", "≤": "<=", "≥": ">=", "\u2009": " ", "\u00a0": " ",
    "‘": "'", "’": "'", "“": '"', "”": '"', "│": "|", "┃": "|", "║": "|",
}


def _ascii_for(ch: str) -> str:
    if ch in _ASCII:
        return _ASCII[ch]
    name = unicodedata.name(ch, "")
    if name.startswith("BOX DRAWINGS"):
        return "|" if "VERTICAL" in name and "HORIZONTAL" not in name else "-"
    # Letters with accents keep their base letter (é -> e); anything else is "?".
    base = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode("ascii")
    return base or "?"


def _replace(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    return "".join(_ascii_for(c) for c in exc.object[exc.start:exc.end]), exc.end


def _register() -> None:
    try:
        codecs.lookup_error(HANDLER)
    except LookupError:
        codecs.register_error(HANDLER, _replace)


def make_safe(stream: object) -> None:
    """Let a text stream fall back to ASCII look-alikes where its encoding cannot encode."""
    _register()
    # stderr's default is "backslashreplace": no crash, but "\u2192" in a log.
    if not isinstance(stream, io.TextIOWrapper) or stream.errors not in ("strict",
                                                                         "backslashreplace"):
        return  # a test runner's capture, or a choice made with PYTHONIOENCODING
    if codecs.lookup(stream.encoding).name == "utf-8":
        return
    stream.reconfigure(errors=HANDLER)


def make_std_streams_safe() -> None:
    make_safe(sys.stdout)
    make_safe(sys.stderr)
