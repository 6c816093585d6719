"""``record --config booktape.toml``: every ``record`` option in one file a service runs with.

The file is flat keys named like ``record``'s options (``out``, ``symbols``,
``collector``, ``topology``, ``session``, ``rotate_every``...; dashes or
underscores), plus sections for option families (:data:`SECTIONS`): ``[mt5]``
(``--mt5-*``, and the credentials reference), ``[sim]`` (``--sim-*``),
``[thresholds]`` (pacing, rotation, sync), ``[publish]`` (the bus). Command-line
flags override the file. Unknown keys and wrong types are errors naming the key
and its line; secrets are never printed (:func:`masked`).

Which keys exist is not listed here: the caller passes the options it has
(``record``'s click parameters), so an option added to ``record`` is a config
key at once. A new section (e.g. more bus options) is one entry in
:data:`SECTIONS`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BadArgument
from ._toml import load_toml, where

#: section → (prefix added to its keys, renames key → option name). The extension point:
#: ``[publish]`` keys map onto ``record``'s bus options; add a section or a rename here.
SECTIONS: dict[str, tuple[str, dict[str, str]]] = {
    "mt5": ("mt5_", {"ticks": "ticks", "password": "mt5_password"}),
    "sim": ("sim_", {}),
    "thresholds": ("", {}),
    "publish": ("", {"url": "publish", "buffer": "publish_buffer"}),
}
#: Keys spelled differently in a file than as options.
ALIASES = {"symbol": "symbols", "json": "as_json", "source_kind": "source"}
#: Keys whose values are never printed.
SECRET_WORDS = ("password", "token", "secret")
PASSWORD_KEY = "mt5_password"
PASSWORD_ENV = "BOOKTAPE_MT5_PASSWORD"

Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class Setting:
    """One option set by the file: its value (converted), and where it came from."""

    option: str
    value: Any
    raw: Any  # as written in the file
    key: str  # as written: "thresholds.rotate_bytes"
    line: int | None


def load_config(path: str | Path, options: Mapping[str, Converter]) -> dict[str, Setting]:
    """Read a config file into ``{option name: Setting}``.

    Args:
        path: the TOML file.
        options: every option the file may set, each with a converter that
            returns the value as the command takes it or raises (ValueError, or
            any exception whose text says what is wrong).

    Raises:
        BadArgument: unreadable file, bad TOML, an unknown key or a wrong type,
            naming the key and (where it can be found) its line.
    """
    data, text = load_toml(path, "config")
    out: dict[str, Setting] = {}

    def put(option: str, value: Any, key: str, table: str | None) -> None:
        loc = where(path, text, key.split(".")[-1], table)
        loc = loc.replace(f"key {key.split('.')[-1]!r}", f"key {key!r}")
        option = ALIASES.get(option, option)
        if option not in options:
            raise BadArgument(f"config {loc}: unknown key; see `booktape record --help` for the "
                              f"options (write --rotate-every as rotate_every)")
        if option in out:
            raise BadArgument(f"config {loc}: set twice (also as {out[option].key!r})")
        try:
            conv = options[option](value)
        except Exception as e:  # the converter's message is the useful part
            msg = str(getattr(e, "message", None) or e)
            raise BadArgument(f"config {loc}: {msg}") from None
        line = None
        if loc.endswith(")") and "(line " in loc:
            line = int(loc.rsplit("(line ", 1)[1][:-1])
        out[option] = Setting(option, conv, value, key, line)

    for k, v in data.items():
        if isinstance(v, dict):
            if k not in SECTIONS:
                raise BadArgument(f"config {where(path, text, k)}: unknown section [{k}]; "
                                  f"allowed: {', '.join(f'[{s}]' for s in SECTIONS)}")
            prefix, renames = SECTIONS[k]
            for sk, sv in v.items():
                name = sk.replace("-", "_")
                put(renames.get(name, prefix + name), sv, f"{k}.{sk}", k)
        else:
            put(k.replace("-", "_"), v, k, None)
    return out


def apply_password(settings: dict[str, Setting], environ: dict[str, str] | None = None) -> None:
    """Move a ``[mt5] password`` into the environment the pollers read (never argv or disk).

    The environment wins over the file, as for ``--mt5-config`` files.
    """
    env = os.environ if environ is None else environ
    s = settings.pop(PASSWORD_KEY, None)
    if s is not None and s.value and PASSWORD_ENV not in env:
        env[PASSWORD_ENV] = str(s.value)


def is_secret(option: str) -> bool:
    return any(w in option for w in SECRET_WORDS)


def masked(option: str, value: Any) -> Any:
    """``********`` for a secret that is set, the value otherwise."""
    return "********" if is_secret(option) and value not in (None, "", False) else value
