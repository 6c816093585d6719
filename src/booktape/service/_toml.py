"""TOML files a user edits: read with ``tomllib``, errors that name the key and its line.

``tomllib`` reports a line only for syntax errors; for a value of the wrong
type or an unknown key we find the key's line ourselves (a plain text scan,
good enough for the hand-written files this is for, and never wrong about the
key's name, which is what the message leads with).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from ..errors import BadArgument, bad_toml


def load_toml(path: str | Path, what: str) -> tuple[dict[str, Any], str]:
    """The parsed table and the file's text; a missing or malformed file is a BadArgument."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadArgument(f"{what} {p}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadArgument(f"{what} {p}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as e:
        raise bad_toml(f"{what} {p}", e, text) from None


def line_of(text: str, key: str, table: str | None = None) -> int | None:
    """The 1-based line where ``key`` is assigned (inside ``[table]`` when given), if found."""
    leaf = key.split(".")[-1]
    key_re = re.compile(r'^\s*(?:"%s"|\'%s\'|%s)\s*=' % ((re.escape(leaf),) * 3))
    head_re = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")
    current: str | None = None
    for i, line in enumerate(text.splitlines(), 1):
        m = head_re.match(line)
        if m:
            current = m.group(1).replace('"', "").replace("'", "")
            if table is None and current == key:
                return i
            continue
        if key_re.match(line) and (table is None or current == table):
            return i
    return None


def line_of_item(text: str, table: str, index: int) -> int | None:
    """The line of the ``index``-th inline table holding ``name =`` inside ``[table]``."""
    head_re = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")
    item_re = re.compile(r"\bname\s*=")
    current, seen = None, -1
    for i, line in enumerate(text.splitlines(), 1):
        m = head_re.match(line)
        if m:
            current = m.group(1).replace('"', "").replace("'", "")
            continue
        if current == table and item_re.search(line):
            seen += 1
            if seen == index:
                return i
    return None


def where(path: str | Path, text: str, key: str, table: str | None = None) -> str:
    """``FILE: key 'a.b' (line 7)`` for messages."""
    n = line_of(text, key, table)
    return f"{path}: key {key!r}" + (f" (line {n})" if n else "")
