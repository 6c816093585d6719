"""The JetStream stream booktape publishes into: created when missing, refused when it would lose data.

A stream that deletes messages on its own (memory storage, interest
retention, ``discard: old`` with a limit) could drop states before a sink
read them, and nothing on either side could tell; we refuse it with the
setting to change rather than publish into it.
"""

from __future__ import annotations

from typing import Any

from ..errors import BusRefused, BusUnavailable
from .config import BusConfig
from .subjects import covers


def stream_problems(config: Any, wanted: str) -> list[str]:
    """Why an existing stream's config (``nats.js.api.StreamConfig``) would lose or refuse our data."""
    from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType

    out = []
    if config.storage == StorageType.MEMORY:
        out.append("storage is memory (a server restart loses every message); use file storage")
    if config.retention == RetentionPolicy.INTEREST:
        out.append("retention is interest (messages no consumer is bound to yet are deleted); "
                   "use limits or workqueue")
    if config.discard != DiscardPolicy.NEW:
        limits = {"max_msgs": config.max_msgs, "max_bytes": config.max_bytes,
                  "max_msgs_per_subject": config.max_msgs_per_subject,
                  "max_age": config.max_age}
        set_ = [f"{k}={v}" for k, v in limits.items() if v not in (None, -1, 0)]
        if set_:
            out.append(f"discard is old with {', '.join(set_)} (the oldest messages are deleted "
                       "when the limit is reached, read by a sink or not); remove the limits or "
                       "use discard new")
    if config.sealed:
        out.append("the stream is sealed (it takes no new messages)")
    if not covers(list(config.subjects or []), wanted):
        out.append(f"its subjects {list(config.subjects or [])} do not take {wanted}")
    return out


async def ensure_stream(js: Any, cfg: BusConfig, wanted: str | None = None) -> None:
    """Create ``cfg.stream`` (file storage, no limits) if missing; refuse one that would lose data.

    Raises:
        BusRefused: the stream exists with settings that would lose data, or we may not create it.
        BusUnavailable: JetStream did not answer.
    """
    from nats.errors import NoRespondersError, TimeoutError
    from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    wanted = wanted or f"{cfg.prefix}.>"
    try:
        try:
            info = await js.stream_info(cfg.stream)
        except NotFoundError:
            await js.add_stream(StreamConfig(
                name=cfg.stream, subjects=[f"{cfg.prefix}.>"], storage=StorageType.FILE,
                retention=RetentionPolicy.LIMITS, discard=DiscardPolicy.OLD, max_msgs=-1,
                max_bytes=-1, max_age=0, duplicate_window=cfg.duplicate_window_s,
                num_replicas=cfg.replicas,
                description="booktape order-book chunks (booktape record --publish)"))
            return
    except (NoRespondersError, TimeoutError) as e:
        raise BusUnavailable(f"JetStream at {cfg.url} did not answer ({type(e).__name__}); is the "
                             "server running with JetStream enabled (-js)?") from None
    except Exception as e:
        if type(e).__module__.startswith("nats.js"):
            raise BusRefused(f"JetStream at {cfg.url} refused stream {cfg.stream}: {e}") from None
        raise
    problems = stream_problems(info.config, wanted)
    if problems:
        raise BusRefused(f"stream {cfg.stream} at {cfg.url} would lose data: "
                         + "; ".join(problems))
