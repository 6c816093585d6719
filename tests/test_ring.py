"""The shared-memory ring on its own: order, wrap-around, back-pressure, cleanup."""

from __future__ import annotations

import random
from multiprocessing import shared_memory

import pytest

from booktape.errors import BooktapeError
from booktape.transport.ring import HEADER_BYTES, Ring


@pytest.fixture
def ring():
    cap = 4096
    shm = shared_memory.SharedMemory(create=True, size=HEADER_BYTES + cap)
    producer, consumer = Ring(shm.buf, cap), Ring(shm.buf, cap)
    producer.pos[:] = 0
    yield producer, consumer
    producer.release()
    consumer.release()
    shm.close()
    shm.unlink()


def test_ring_wraps_around_keeping_order_and_bytes(ring):
    producer, consumer = ring
    rnd = random.Random(1)
    sent, got = [], []
    n = 0
    while n < 500:
        payload = rnd.randbytes(rnd.randint(0, 900))
        if producer.put(1, n, payload):
            sent.append((1, n, payload))
            n += 1
        elif (rec := consumer.get()) is not None:
            got.append(rec)
    while (rec := consumer.get()) is not None:
        got.append(rec)
    assert got == sent


def test_ring_full_refuses_without_blocking_and_accepts_after_a_get(ring):
    producer, consumer = ring
    n = 0
    while producer.put(1, n, bytes(1000)):
        n += 1
    assert n == 4  # 4 x 1016 bytes of 4096
    assert consumer.get()[1] == 0
    assert producer.put(1, n, bytes(1000))


def test_ring_refuses_a_chunk_larger_than_half_the_ring(ring):
    producer, _ = ring
    with pytest.raises(BooktapeError, match="does not fit"):
        producer.put(1, 0, bytes(3000))
