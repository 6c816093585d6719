"""MetaTrader 5 on the command line: ``record``'s ``--mt5-*`` options and ``booktape emulate``.

There is deliberately no ``--mt5-password``: a value on the command line is
visible to every user through ``ps``. The password comes from
``$BOOKTAPE_MT5_PASSWORD``, the ``--mt5-config`` file, or a hidden prompt
(``--mt5-ask-password``), whose answer is put in this process's environment
so spawned pollers inherit it without it touching argv or disk.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from ..errors import BadArgument
from . import cli
from ._options import DURATION

PASSWORD_ENV = "BOOKTAPE_MT5_PASSWORD"


def mt5_option_decorators(f: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--mt5-*`` options of ``booktape record`` (passed on as ``**mt5``)."""
    for opt in reversed([
        click.option("--mt5-path", default=None,
                     help="Terminal executable (terminal64.exe); default: MT5 finds it."),
        click.option("--mt5-login", type=int, default=None,
                     help="Trading account; default: the terminal's current one. The password "
                          f"comes from ${PASSWORD_ENV}, --mt5-config or --mt5-ask-password."),
        click.option("--mt5-server", default=None, help="Trade server name, e.g. Broker-Demo."),
        click.option("--mt5-config", type=click.Path(dir_okay=False), default=None,
                     help="TOML file with an [mt5] table: login, server, path, password."),
        click.option("--mt5-ask-password", is_flag=True,
                     help="Prompt for the password (hidden) instead of reading it."),
        click.option("--mt5-host", default=None,
                     help="mt5linux server address (default 127.0.0.1; keep it local)."),
        click.option("--mt5-port", type=int, default=None,
                     help="mt5linux server port (default 18812)."),
        click.option("--mt5-timeout", type=DURATION, default=None,
                     help="initialize() timeout, e.g. 60s (MT5's default)."),
        click.option("--mt5-give-up", type=DURATION, default=None,
                     help="Fail after the terminal has been unreachable this long, e.g. 10m; "
                          "default: keep retrying."),
        click.option("--ticks", is_flag=True,
                     help="Also record server time per poll (symbol_info_tick) and trades "
                          "(copy_ticks_range) under DATA/_server_time and DATA/_ticks."),
        click.option("--mt5-module", default=None, hidden=True,
                     help="Module to use instead of MetaTrader5 (booktape.emulator)."),
    ]):
        f = opt(f)
    return f


def mt5_source_options(source: str, *, mt5_path: str | None = None,
                       mt5_login: int | None = None, mt5_server: str | None = None,
                       mt5_config: str | None = None, mt5_ask_password: bool = False,
                       mt5_host: str | None = None, mt5_port: int | None = None,
                       mt5_timeout: int | None = None, mt5_give_up: int | None = None,
                       mt5_module: str | None = None, ticks: bool = False) -> dict[str, Any]:
    """Turn the ``--mt5-*`` options into the source's keyword options (no password)."""
    given = {k: v for k, v in locals().items()
             if (k.startswith("mt5_") or k == "ticks") and v not in (None, False)}
    if source not in ("mt5", "mt5linux"):
        if given:
            names = ", ".join("--" + k.replace("_", "-") for k in given)
            raise BadArgument(f"{names} apply only to --source mt5 or mt5linux")
        return {}
    if source == "mt5" and (mt5_host is not None or mt5_port is not None):
        raise BadArgument("--mt5-host/--mt5-port apply only to --source mt5linux")
    if source == "mt5linux" and mt5_module is not None:
        raise BadArgument("--mt5-module applies only to --source mt5")
    if mt5_port is not None and not 0 < mt5_port < 65536:
        raise BadArgument(f"invalid --mt5-port {mt5_port}: must be 1..65535")
    named = (("path", mt5_path), ("login", mt5_login), ("server", mt5_server),
             ("config_file", mt5_config), ("host", mt5_host), ("port", mt5_port),
             ("module", mt5_module))
    opts: dict[str, Any] = {key: val for key, val in named if val is not None}
    if mt5_timeout is not None:
        if mt5_timeout <= 0:
            raise BadArgument("invalid --mt5-timeout: must be positive")
        opts["timeout_ms"] = max(1, mt5_timeout // 1_000_000)
    if mt5_give_up is not None:
        opts["give_up_after_s"] = mt5_give_up / 1e9
    if ticks:
        # The ticks streams live in the same tape and collector as the books.
        params = click.get_current_context().params
        opts.update(ticks=True, ticks_out=params["out"], ticks_collector=params["collector"])
    if mt5_ask_password:
        pw = click.prompt("MT5 password", hide_input=True, err=True)
        # Inherited by spawned pollers; never in argv, the SourceSpec or a file.
        os.environ[PASSWORD_ENV] = pw
    return opts


def _fault(value: str) -> tuple[str, Any]:
    name, sep, raw = value.partition("=")
    if not sep:
        raise BadArgument(f"invalid --fault {value!r}: use NAME=VALUE, e.g. ipc_drop_after_calls=500")
    v: Any
    if raw.lower() in ("true", "false"):
        v = raw.lower() == "true"
    else:
        try:
            v = int(raw)
        except ValueError:
            try:
                v = float(raw)
            except ValueError:
                raise BadArgument(f"invalid --fault {value!r}: the value must be a number "
                                  "or true/false") from None
    return name.strip(), v


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. An RPyC classic server runs any code sent to it: "
                   "keep it on loopback.")
@click.option("--port", type=click.IntRange(0, 65535), default=18812, show_default=True,
              help="TCP port (0: any free).")
@click.option("--symbol", "symbols", multiple=True,
              help="Symbols with a book (default RIU2, SiU2, GZU2); EURUSD has none.")
@click.option("--fault", "faults", multiple=True, metavar="NAME=VALUE",
              help="Inject a fault, e.g. ipc_drop_after_calls=500, none_every=100, "
                   "broker_drop_after_calls=1000, latency_ms=2, auth_fail=true.")
@click.option("--require-password", is_flag=True,
              help=f"The account accepts only the password in ${PASSWORD_ENV}.")
@click.option("--sim-seed", type=int, default=None, help="Seed of the simulated market.")
@click.option("--sim-lockstep", is_flag=True, help="Advance the market per call (reproducible).")
def emulate(host: str, port: int, symbols: tuple[str, ...], faults: tuple[str, ...],
            require_password: bool, sim_seed: int | None, sim_lockstep: bool) -> None:
    """Serve an emulated MetaTrader 5 terminal over RPyC, as an mt5linux server does.

    The real mt5linux client (and `booktape record --source mt5linux`)
    connects to it unchanged. Runs until Ctrl-C, in a temporary directory.

    Example: booktape emulate --port 18812 --fault ipc_drop_after_calls=500
    """
    from ..emulator import EmuConfig
    from ..emulator.server import serve
    from ..sources.mt5linux import is_loopback
    from ..sources.simulated import SimConfig

    fault_map = dict(_fault(f) for f in faults)
    kw: dict[str, Any] = {}
    if symbols:
        kw["symbols"] = tuple(symbols)
    if require_password:
        pw = os.environ.get(PASSWORD_ENV)
        if not pw:
            raise BadArgument(f"--require-password needs ${PASSWORD_ENV} to be set")
        kw["password"] = pw
    sim: dict[str, Any] = {"lockstep": sim_lockstep}
    if sim_seed is not None:
        sim["seed"] = sim_seed
    cfg = EmuConfig(sim=SimConfig(**sim), **kw)
    if not is_loopback(host):
        click.echo(f"Warning: {host} is not a loopback address; anyone who can reach it can "
                   "run code in this process.", err=True)

    def ready(server: Any) -> None:
        click.echo(f"Emulating MetaTrader5 on {server.host}:{server.port} "
                   "(mt5linux-compatible); Ctrl-C to stop.", err=True)

    serve(host, port, config=cfg, faults=fault_map, on_ready=ready)
