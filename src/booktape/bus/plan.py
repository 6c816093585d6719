"""From ``record --publish`` options to the saver's downstream: validate, check the bus once, plan.

The check at start runs before the tape is touched: a wrong credential or a
stream that would lose data stops the recorder with one clear error; an
unreachable server does not (the recorder records locally and the publisher
keeps retrying).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from ..errors import BadArgument, BusUnavailable
from ..events import EventSink
from ..tape.layout import check_name
from ..transport import DownstreamSpec, RecordPlan
from ..units import parse_duration, parse_size
from .config import DEFAULT_STREAM, BusConfig, PublishConfig, check_url
from .connect import connect
from .credentials import connect_options
from .publisher import Publisher
from .stream import ensure_stream
from .subjects import subject_for

log = logging.getLogger(__name__)

OPTIONS = ("stream", "duplicate_window", "nats_auth", "buffer_bytes", "no_local", "replicas",
           "ack_timeout", "close_timeout")


def bus_config(url: str, *, stream: str = DEFAULT_STREAM, duplicate_window: str | float = "2m",
               nats_auth: str | None = None, replicas: int = 1) -> BusConfig:
    """A validated :class:`BusConfig` (credentials are read, to fail early, but not kept)."""
    if not stream or not all(c.isalnum() or c in "-_" for c in stream):
        raise BadArgument(f"invalid --stream {stream!r}: use letters, digits, '-' and '_'")
    window = parse_duration(duplicate_window, "--duplicate-window") / 1e9
    if window < 0:
        raise BadArgument(f"invalid --duplicate-window {duplicate_window!r}: must not be negative")
    if replicas not in (1, 3, 5):
        raise BadArgument(f"invalid replicas {replicas}: JetStream takes 1, 3 or 5")
    cfg = BusConfig(url=check_url(url), stream=stream, duplicate_window_s=window,
                    auth_file=str(Path(nats_auth).resolve()) if nats_auth else None,
                    replicas=replicas)
    connect_options(cfg.auth_file)
    return cfg


def publish_config(url: str, options: dict[str, Any] | None = None) -> PublishConfig:
    opts = dict(options or {})
    unknown = sorted(set(opts) - set(OPTIONS))
    if unknown:
        raise BadArgument(f"unknown publish option(s) {unknown}; known: {', '.join(OPTIONS)}")
    bus = bus_config(url, stream=opts.get("stream", DEFAULT_STREAM),
                     duplicate_window=opts.get("duplicate_window", "2m"),
                     nats_auth=opts.get("nats_auth"), replicas=int(opts.get("replicas", 1)))
    kw: dict[str, Any] = {"no_local": bool(opts.get("no_local", False))}
    if "buffer_bytes" in opts:
        kw["buffer_bytes"] = parse_size(opts["buffer_bytes"], "--publish-buffer")
    for k in ("ack_timeout", "close_timeout"):
        if k in opts:
            kw[f"{k}_s"] = parse_duration(opts[k], f"--{k.replace('_', '-')}") / 1e9
    return PublishConfig(bus=bus, **kw)


def check_bus(cfg: BusConfig, collector: str) -> str | None:
    """Connect once and check (or create) the stream; the outage text if the bus is down.

    Raises:
        BusRefused: wrong credentials, or the stream would lose data.
    """
    async def probe() -> None:
        nc = await connect(cfg, reconnect=False)
        try:
            await ensure_stream(nc.jetstream(), cfg, subject_for(cfg.prefix, collector, "*"))
        finally:
            await nc.close()

    try:
        asyncio.run(probe())
    except BusUnavailable as e:
        log.warning("%s: recording locally; publishing starts when the bus is up", e)
        return str(e)
    return None


def prepare_publish(url: str, options: dict[str, Any] | None, collector: str) -> DownstreamSpec:
    """The downstream of ``record --publish``, after the one check at start."""
    check_name("collector", collector)
    cfg = publish_config(url, options)
    check_bus(cfg.bus, collector)
    return DownstreamSpec("booktape.bus.plan:open_publisher", {"cfg": cfg})


def open_publisher(plan: RecordPlan, events: EventSink, cfg: PublishConfig) -> Publisher:
    return Publisher(cfg, Path(plan.root), plan.collector, plan.session, plan.capture.symbols,
                     plan.start_seq, events, diag_dir=plan.diag_dir)
