"""NATS credentials from the environment or a file, never from the command line.

``BOOKTAPE_NATS_TOKEN``, ``BOOKTAPE_NATS_USER`` + ``BOOKTAPE_NATS_PASSWORD``,
``BOOKTAPE_NATS_CREDS`` (a ``.creds`` file: JWT + NKEY seed) or
``BOOKTAPE_NATS_NKEY`` (an NKEY seed file); or ``--nats-auth FILE`` with
``token = ...``, ``user = ...``, ``password = ...``, ``creds = PATH``,
``nkey = PATH`` lines. The file wins over the environment, key by key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import BadArgument

ENV = {"token": "BOOKTAPE_NATS_TOKEN", "user": "BOOKTAPE_NATS_USER",
       "password": "BOOKTAPE_NATS_PASSWORD", "creds": "BOOKTAPE_NATS_CREDS",
       "nkey": "BOOKTAPE_NATS_NKEY"}


def read_auth_file(path: str) -> dict[str, str]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise BadArgument(f"--nats-auth {path}: cannot read it ({e.strerror or e})") from None
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip().lower()
        if not sep or key not in ENV:
            # Never echo the line: it may be a secret.
            raise BadArgument(f"--nats-auth {path}, line {n}: expected one of "
                              f"{', '.join(k + ' = ...' for k in ENV)}")
        out[key] = value.strip().strip('"')
    return out


def connect_options(auth_file: str | None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``nats.connect`` carrying the credentials found."""
    env = os.environ if environ is None else environ
    found = {k: env[v] for k, v in ENV.items() if env.get(v)}
    if auth_file:
        found.update(read_auth_file(auth_file))
    if "password" in found and "user" not in found:
        raise BadArgument("a NATS password is set but no user (BOOKTAPE_NATS_USER or user = ...)")
    opts: dict[str, Any] = {}
    if "token" in found:
        opts["token"] = found["token"]
    if "user" in found:
        opts["user"] = found["user"]
        opts["password"] = found.get("password", "")
    for key, arg in (("creds", "user_credentials"), ("nkey", "nkeys_seed")):
        if key in found:
            if not Path(found[key]).is_file():
                raise BadArgument(f"NATS {key} file {found[key]} does not exist")
            opts[arg] = found[key]
    return opts
