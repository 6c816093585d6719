"""Subjects and message ids: ``booktape.<collector>.<symbol>``, ``<collector>/<symbol>/<first seq>-<last seq>``.

Symbol names may hold ``.`` (``Si-12.22``), which NATS reads as a token
separator, so every character outside ``[A-Za-z0-9_+-]`` is written ``%XX``
(and ``%`` itself, so the escaping reverses exactly).
"""

from __future__ import annotations

import re

_SAFE = re.compile(r"[A-Za-z0-9_+\-]")


def escape_token(name: str) -> str:
    """``name`` as one NATS subject token."""
    return "".join(c if _SAFE.match(c) else "".join(f"%{b:02X}" for b in c.encode())
                   for c in name)


def unescape_token(token: str) -> str:
    """The inverse of :func:`escape_token`."""
    return re.sub(r"(?:%[0-9A-F]{2})+",
                  lambda m: bytes.fromhex(m.group(0).replace("%", "")).decode(), token)


def subject_for(prefix: str, collector: str, symbol: str) -> str:
    return f"{prefix}.{escape_token(collector)}.{escape_token(symbol)}"


def msg_id(collector: str, symbol: str, first_seq: int, last_seq: int) -> str:
    """JetStream's de-duplication key of a chunk.

    The last seq is part of it: a recorder restarted after a crash re-sends
    from its tape in slices cut differently from the chunks it first sent,
    and a slice sharing only its first seq with an earlier chunk would be
    dropped by the duplicate window with every state past that chunk's end.
    """
    return f"{collector}/{symbol}/{first_seq}-{last_seq}"


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcard matching: ``*`` is one token, a final ``>`` is one or more."""
    p, s = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(s) > i
        if i >= len(s) or (tok != "*" and tok != s[i]):
            return False
    return len(p) == len(s)


def covers(patterns: list[str], wanted: str) -> bool:
    """True when some pattern takes every subject ``wanted`` (itself a pattern) can match."""
    for pat in patterns:
        p, w = pat.split("."), wanted.split(".")
        ok = True
        for i, tok in enumerate(p):
            if tok == ">":
                ok = len(w) > i
                break
            if i >= len(w) or w[i] == ">" or (tok != "*" and (tok != w[i] or w[i] == "*")):
                ok = False
                break
        else:
            ok = len(p) == len(w)
        if ok:
            return True
    return False
