"""Where MT5 credentials come from: never the command line.

The password is read from ``BOOKTAPE_MT5_PASSWORD`` or a config file (the
CLI may prompt and put the answer in that variable of its own process, which
spawned pollers inherit). It is never part of a ``SourceSpec``, an event, a
log line or a tape, so ``ps`` and the files on disk never show it.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from ..errors import BadArgument, bad_toml

PASSWORD_ENV = "BOOKTAPE_MT5_PASSWORD"
_KEYS = {"login", "password", "server", "path"}


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read an ``[mt5]`` table (or top-level keys) from a TOML file.

    Raises:
        BadArgument: the file is missing, not TOML, or has unknown keys.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadArgument(f"MT5 config file {str(p)!r} does not exist") from None
    except UnicodeDecodeError as e:
        raise BadArgument(f"MT5 config file {str(p)!r} is not valid TOML: {e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise bad_toml(f"MT5 config file {str(p)!r}", e, text) from None
    table = data.get("mt5", data)
    if not isinstance(table, dict):
        raise BadArgument(f"MT5 config file {str(p)!r}: [mt5] must be a table")
    unknown = set(table) - _KEYS
    if unknown:
        raise BadArgument(f"MT5 config file {str(p)!r}: unknown key(s) {sorted(unknown)}; "
                          f"allowed: {sorted(_KEYS)}")
    return dict(table)


def resolve_password(config: dict[str, Any], environ: dict[str, str] | None = None) -> str | None:
    """The environment wins over the file; ``None`` means the terminal's saved password."""
    env = os.environ if environ is None else environ
    pw = env.get(PASSWORD_ENV)
    if pw:
        return pw
    v = config.get("password")
    return str(v) if v is not None else None
