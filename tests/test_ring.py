"""The shared-memory ring on its own: order, wrap-around, back-pressure, retention, cleanup."""

from __future__ import annotations

import random
from multiprocessing import shared_memory

import pytest

from booktape.errors import BooktapeError
from booktape.transport.ring import (
    HEADER_BYTES,
    MIN_RING_BYTES,
    RING_BYTES,
    Ring,
    RingReader,
    ring_bytes,
)


@pytest.fixture
def ring():
    cap = 4096
    shm = shared_memory.SharedMemory(create=True, size=HEADER_BYTES + cap)
    producer = Ring(shm.buf, cap)
    producer.pos[:] = 0
    consumer = Ring(shm.buf, cap)
    yield producer, consumer
    producer.release()
    consumer.release()
    shm.close()
    shm.unlink()


def test_ring_wraps_around_keeping_order_and_bytes(ring):
    producer, consumer = ring
    reader = RingReader(consumer)
    rnd = random.Random(1)
    sent, got, spans = [], [], []
    n = 0
    while n < 500:
        payload = rnd.randbytes(rnd.randint(0, 900))
        if (span := producer.put(1, n, payload)) is not None:
            sent.append((1, n, payload))
            spans.append(span)
            n += 1
        elif (rec := reader.get()) is not None:
            got.append(rec)
            producer.free_to(spans[len(got) - 1][1])  # acknowledged: reusable
        else:
            raise AssertionError("full, yet nothing to read")
    while (rec := reader.get()) is not None:
        got.append(rec)
    assert got == sent


def test_ring_full_refuses_without_blocking_and_only_an_ack_frees_space(ring):
    producer, consumer = ring
    spans = []
    while (span := producer.put(1, len(spans), bytes(1000))) is not None:
        spans.append(span)
    assert len(spans) == 4  # 4 x 1016 bytes of 4096
    reader = RingReader(consumer)
    assert reader.get()[1] == 0
    assert producer.put(1, 4, bytes(1000)) is None  # read is not durable: still kept
    producer.free_to(spans[0][1])
    assert producer.put(1, 4, bytes(1000)) is not None


def test_a_new_reader_starts_at_the_oldest_unacknowledged_record(ring):
    # What a saver restarted after a crash sees: everything not yet freed, in order.
    producer, consumer = ring
    spans = [producer.put(1, n, bytes([n]) * 100) for n in range(5)]
    first = RingReader(consumer)
    assert [first.get()[1] for _ in range(4)] == [0, 1, 2, 3]
    producer.free_to(spans[1][1])  # chunks 0 and 1 acknowledged
    again = RingReader(consumer)
    assert [again.get()[1] for _ in range(3)] == [2, 3, 4]
    assert again.get() is None
    assert producer.read(spans[3][0]) == bytes([3]) * 100


def test_ring_refuses_a_chunk_larger_than_half_the_ring(ring):
    producer, _ = ring
    with pytest.raises(BooktapeError, match="does not fit"):
        producer.put(1, 0, bytes(3000))


def test_ring_size_follows_the_buffer_and_the_free_shared_memory():
    mib = 1 << 20
    assert ring_bytes(None) == RING_BYTES == 64 * mib
    assert ring_bytes(8 * mib) == 8 * mib
    assert ring_bytes(1000) == MIN_RING_BYTES  # chunks must still fit
    # Docker's default 64 MB /dev/shm: half of what is free, never a SIGBUS.
    assert ring_bytes(None, shm_free=64 * mib) == 32 * mib
    with pytest.raises(BooktapeError, match="--shm-size"):
        ring_bytes(None, shm_free=mib)
