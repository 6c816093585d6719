"""``booktape sink``, and the ``--publish`` options ``record`` takes."""

from __future__ import annotations

import json
from typing import Any

import click

from . import cli
from ._options import DURATION, SIZE

_PUBLISH_KEYS = ("publish", "stream", "no_local", "nats_auth", "duplicate_window",
                 "publish_buffer")


def publish_option_decorators(f: Any) -> Any:
    for opt in reversed([
        click.option("--publish", default=None, metavar="URL",
                     help="Also publish every stored chunk to NATS JetStream at this URL "
                          "(nats://HOST:4222, tls://...). Credentials: BOOKTAPE_NATS_* or --nats-auth."),
        click.option("--stream", default="BOOKTAPE", show_default=True,
                     help="JetStream stream to publish into (created if missing)."),
        click.option("--no-local", is_flag=True,
                     help="With --publish: delete sealed parts once JetStream acknowledged them "
                          "(less safe: the bus and its sink then hold the only copy)."),
        click.option("--nats-auth", default=None, type=click.Path(dir_okay=False),
                     help="File with token/user/password/creds/nkey lines for NATS."),
        click.option("--duplicate-window", default="2m", show_default=True,
                     help="JetStream duplicate window when the stream is created."),
        click.option("--publish-buffer", default=None, type=SIZE,
                     help="Chunks kept in memory for the bus before spilling to disk (default 64MB)."),
    ]):
        f = opt(f)
    return f


def publish_kwargs(opts: dict[str, Any]) -> dict[str, Any]:
    """Pop the publish options out of a command's keyword arguments into ``record``'s."""
    from ..errors import BadArgument

    p = {k: opts.pop(k, None) for k in _PUBLISH_KEYS}
    if p["publish"] is None:
        if p["no_local"]:
            raise BadArgument("--no-local needs --publish URL (otherwise nothing keeps the data)")
        return {}
    o: dict[str, Any] = {"stream": p["stream"], "no_local": bool(p["no_local"]),
                         "duplicate_window": p["duplicate_window"], "nats_auth": p["nats_auth"]}
    if p["publish_buffer"] is not None:
        o["buffer_bytes"] = p["publish_buffer"]
    return {"publish": p["publish"], "publish_options": o}


@cli.command()
@click.argument("url")
@click.option("--out", default="data", show_default=True, help="Tape directory to write.")
@click.option("--durable", default="booktape-sink", show_default=True,
              help="Durable consumer name; a second sink with the same name stands by.")
@click.option("--stream", default="BOOKTAPE", show_default=True, help="JetStream stream to read.")
@click.option("--nats-auth", default=None, type=click.Path(dir_okay=False),
              help="File with token/user/password/creds/nkey lines for NATS.")
@click.option("--rotate-every", default="1h", show_default=True, type=DURATION,
              help="Seal a segment after this long.")
@click.option("--rotate-bytes", default="1GB", show_default=True, type=SIZE,
              help="Seal a segment when its data reaches this size.")
@click.option("--sync-every", default="1s", show_default=True, type=DURATION,
              help="fsync the journals (and then acknowledge) this often.")
@click.option("--duration", default=None, help="Stop after this long (default: until Ctrl-C).")
@click.option("--until-idle", default=None, help="Stop once no message came for this long.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def sink(url: str, out: str, durable: str, stream: str, nats_auth: str | None,
         rotate_every: int, rotate_bytes: int, sync_every: int, duration: str | None,
         until_idle: str | None, as_json: bool) -> None:
    """Write every booktape chunk of a JetStream stream into a tape (same layout as record).

    Acknowledges a message only after its rows are fsync'd; drops states
    already in the tape by (collector, symbol, seq); keeps foreign messages in
    DATA/_quarantine/. Ctrl-C seals and stops.

    Example: booktape sink nats://127.0.0.1:4222 --out desk --durable desk-sink
    """
    from ..bus.plan import bus_config
    from ..bus.sink import run_sink
    from ._render_bus import render_sink_summary

    bus = bus_config(url, stream=stream, nats_auth=nats_auth)
    summary = run_sink(bus, out, durable=durable, rotate_every=f"{rotate_every}ns",
                       rotate_bytes=rotate_bytes, sync_every=f"{sync_every}ns",
                       duration=duration, until_idle=until_idle,
                       on_wait=lambda: click.echo(
                           f"Another sink with durable {durable} is writing {out}; standing by.",
                           err=True))
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2, default=str))
    else:
        render_sink_summary(summary)
