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

    async def quiet(e: Exception) -> None:
        # nats-py reports every failed reconnect here; the publisher's own
        # bus_down/bus_up events say what matters, once per outage.
        log.debug("nats: %s", e)

    try:
        return await nats.connect(
            servers=cfg.servers, connect_timeout=cfg.connect_timeout_s,
            allow_reconnect=reconnect, max_reconnect_attempts=-1 if reconnect else 0,
            reconnect_time_wait=0.5, name="booktape", error_cb=quiet, **opts, **callbacks)
    except Exception as e:
        if is_auth_error(e):
            raise BusRefused(f"NATS at {cfg.url} refused the credentials ({e}); check "
                             "BOOKTAPE_NATS_* or the --nats-auth file") from None
        raise BusUnavailable(f"NATS at {cfg.url} is unreachable ({type(e).__name__}: {e})") from None
