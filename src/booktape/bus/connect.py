"""Connecting to NATS with booktape's credentials, and telling fatal refusals from outages."""

from __future__ import annotations

import logging
from typing import Any

from ..errors import BadArgument, BusRefused, BusUnavailable
from .config import BusConfig
from .credentials import connect_options

log = logging.getLogger(__name__)


def require_nats() -> Any:
    try:
        import nats
    except ImportError:  # pragma: no cover - the bus extra is missing
        raise BadArgument("publishing and sinking need nats-py: pip install 'booktape[bus]'") from None
    return nats


def is_auth_error(e: BaseException) -> bool:
    text = f"{type(e).__name__} {e}".lower()
    return "authorization" in text or "authentication" in text or "permissions" in text


async def connect(cfg: BusConfig, *, reconnect: bool = True, **callbacks: Any) -> Any:
    """A connected ``nats.aio.client.Client``.

    Raises:
        BusRefused: the server rejected the credentials (retrying cannot help).
        BusUnavailable: no server answered.
    """
    nats = require_nats()
    opts = connect_options(cfg.auth_file)

    seen: list[BaseException] = []

    async def quiet(e: Exception) -> None:
        # nats-py reports every failed reconnect here; the publisher's own
        # bus_down/bus_up events say what matters, once per outage.
        if not seen:
            seen.append(e)
        log.debug("nats: %s", e)

    try:
        # nats-py reads max_reconnect_attempts <= 0 as "for ever", for the first
        # connect too: try each server twice here (our callers retry on their
        # own schedule), then let a live connection reconnect for ever.
        nc = await nats.connect(
            servers=cfg.servers, connect_timeout=cfg.connect_timeout_s,
            allow_reconnect=reconnect, max_reconnect_attempts=1,
            reconnect_time_wait=0.5, name="booktape", error_cb=quiet, **opts, **callbacks)
        if reconnect:
            nc.options["max_reconnect_attempts"] = -1
        return nc
    except Exception as e:
        # A refused password surfaces as "no servers available" after the
        # retries; the first error nats-py reported says why.
        if is_auth_error(e) or any(is_auth_error(x) for x in seen):
            raise BusRefused(f"NATS at {cfg.url} refused the credentials ({e}); check "
                             "BOOKTAPE_NATS_* or the --nats-auth file") from None
        raise BusUnavailable(f"NATS at {cfg.url} is unreachable ({type(e).__name__}: {e})") from None
