"""``record --config FILE`` on click: the file's settings become the command's defaults.

click's ``default_map`` is what flags override, so a flag always wins over the
file. Each setting is converted here with the option's own click type, so a
file and a flag accept the same values; wrong types are named by key and line
(:mod:`booktape.service.config`).
"""

from __future__ import annotations

from typing import Any

import click

from ..service.config import PASSWORD_KEY, Converter, Setting, apply_password, load_config

_NOT_IN_FILE = {"config", "help"}


def _type_name(t: Any) -> str:
    return {"integer": "an integer", "float": "a number", "boolean": "true or false"}.get(
        t.name, "a string")


def _converter(param: click.Parameter, ctx: click.Context) -> Converter:
    t = param.type

    def one(x: Any) -> Any:
        ok: bool
        if isinstance(x, (bool, dict, list)):
            ok = False
        elif t.name == "integer":
            ok = isinstance(x, int)
        elif t.name == "float":
            ok = isinstance(x, (int, float))
        elif t.name in ("DURATION", "SIZE"):
            ok = isinstance(x, (int, str))
        else:
            ok = isinstance(x, str)
        if not ok:
            extra = " (a duration like \"1h\" or a size like \"1GB\" in quotes)" if t.name in (
                "DURATION", "SIZE") else ""
            raise ValueError(f"must be {_type_name(t)}{extra}, got {x!r}")
        return t.convert(x, param, ctx)

    def conv(v: Any) -> Any:
        if isinstance(param, click.Option) and param.is_flag:
            if not isinstance(v, bool):
                raise ValueError(f"must be true or false, got {v!r}")
            return v
        if param.multiple:
            items = [v] if isinstance(v, str) else v
            if not isinstance(items, list) or not items:
                raise ValueError(f"must be a list of strings, e.g. [\"RIU2\", \"SiZ2\"], got {v!r}")
            return tuple(one(x) for x in items)
        return one(v)

    return conv


def _password(v: Any) -> Any:
    if not isinstance(v, str):
        raise ValueError("must be a string")
    return v


def file_options(command: click.Command, ctx: click.Context) -> dict[str, Converter]:
    """Every option of ``command`` a config file may set, with its converter."""
    opts: dict[str, Converter] = {p.name: _converter(p, ctx) for p in command.params
                                  if p.name and p.name not in _NOT_IN_FILE}
    opts[PASSWORD_KEY] = _password
    return opts


def read_settings(path: str, command: click.Command, ctx: click.Context) -> dict[str, Setting]:
    return load_config(path, file_options(command, ctx))


def _load(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    settings = read_settings(value, ctx.command, ctx)
    apply_password(settings)
    ctx.default_map = {**(ctx.default_map or {}), **{k: s.value for k, s in settings.items()}}


config_option = click.option(
    "--config", type=click.Path(dir_okay=False), default=None, is_eager=True, expose_value=False,
    callback=_load,
    help="TOML file with record's options (booktape config check FILE shows them); "
         "flags given here override it.")
