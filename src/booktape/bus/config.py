"""What the publisher and the sink need to reach a JetStream stream (picklable, for ``spawn``)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import BadArgument

DEFAULT_STREAM = "BOOKTAPE"
DEFAULT_PREFIX = "booktape"
_SCHEMES = ("nats", "tls", "ws", "wss")


@dataclass(frozen=True, kw_only=True)
class BusConfig:
    """One JetStream stream on one NATS server or cluster."""

    #: One URL or several, comma-separated (the servers of one cluster).
    url: str
    stream: str = DEFAULT_STREAM
    prefix: str = DEFAULT_PREFIX
    #: JetStream drops a re-sent message with a known id within this window.
    duplicate_window_s: float = 120.0
    #: Stream replicas when we create it (3 in a production cluster).
    replicas: int = 1
    #: A file with ``token``/``user``/``password``/``creds``/``nkey`` lines (never argv).
    auth_file: str | None = None
    connect_timeout_s: float = 2.0

    @property
    def servers(self) -> list[str]:
        return [u.strip() for u in self.url.split(",") if u.strip()]


@dataclass(frozen=True, kw_only=True)
class PublishConfig:
    """The recorder's side: a bus plus how much may wait in memory before spilling."""

    bus: BusConfig
    buffer_bytes: int = 64 << 20
    #: How long one publish waits for JetStream's acknowledgement before retrying.
    ack_timeout_s: float = 5.0
    #: How long closing waits for the bus to take what is still unacknowledged.
    close_timeout_s: float = 10.0
    #: ``--no-local``: sealed parts are deleted once JetStream acknowledged them.
    no_local: bool = False


def check_url(url: str) -> str:
    """A NATS URL list without credentials in it (argv is visible to every local user)."""
    urls = [u.strip() for u in url.split(",") if u.strip()]
    if not urls:
        raise BadArgument("give a NATS URL, e.g. nats://127.0.0.1:4222")
    for u in urls:
        parts = urlsplit(u if "://" in u else f"nats://{u}")
        if parts.scheme not in _SCHEMES:
            raise BadArgument(f"invalid NATS URL {u!r}: the scheme must be one of "
                              f"{', '.join(s + '://' for s in _SCHEMES)}")
        if parts.username or parts.password:
            raise BadArgument(
                f"NATS URL {parts.hostname}:{parts.port or 4222} carries credentials: the command "
                "line is visible to every user of the machine; set BOOKTAPE_NATS_TOKEN, "
                "BOOKTAPE_NATS_USER/BOOKTAPE_NATS_PASSWORD, BOOKTAPE_NATS_CREDS or "
                "BOOKTAPE_NATS_NKEY, or give --nats-auth FILE")
        if not parts.hostname:
            raise BadArgument(f"invalid NATS URL {u!r}: no host")
    return ",".join(u if "://" in u else f"nats://{u}" for u in urls)
