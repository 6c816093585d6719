"""The message bus: publish stored chunks to NATS JetStream, sink them into a tape.

``booktape record --publish URL`` hands every chunk the tape writer made
durable to a :class:`~booktape.bus.publisher.Publisher` (a thread of the
saving process, bounded memory, spill file, a cursor of what JetStream
acknowledged). ``booktape sink URL --out DATA`` is a durable pull consumer
that feeds the same :class:`~booktape.tape.writer.TapeWriter` a recorder uses,
so a sink's tape is a tape like any other. nats-py is the ``bus`` extra:
nothing here is imported unless publishing or sinking is asked for.
"""

from __future__ import annotations

from .config import BusConfig, PublishConfig

__all__ = ["BusConfig", "PublishConfig"]
