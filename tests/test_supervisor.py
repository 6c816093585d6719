"""The acquirer's backlog: acknowledgements free memory, rewind resends, spill past the limit."""

from __future__ import annotations

from multiprocessing import shared_memory

from booktape.transport._channels import DATA
from booktape.transport.backlog import SPILL_FRAME, Backlog
from booktape.transport.ring import HEADER_BYTES, Kept, Ring, RingReader


def test_backlog_ack_frees_and_rewind_resends_only_unacknowledged(tmp_path):
    b = Backlog(1 << 20, tmp_path / "spill.bin")
    for i in range(5):
        assert b.add(bytes([i]) * 10) == i
    b.sent = 5
    b.ack(2)
    assert (b.acked, b.mem_bytes) == (2, 20)
    assert b.rewind() == 2 and b.sent == 3
    assert [b.get(n) for n in (3, 4)] == [bytes([3]) * 10, bytes([4]) * 10]


def test_backlog_spills_past_the_limit_reads_back_and_truncates_when_acknowledged(tmp_path):
    path = tmp_path / "spill.bin"
    b = Backlog(25, path)
    chunks = [bytes([i]) * 10 for i in range(6)]
    for c in chunks:
        b.add(c)
    framed = 4 * (SPILL_FRAME.size + 10)  # each spilled chunk carries its frame (issue 11)
    assert b.mem_bytes == 20 and b.spilled_chunks == 4 and path.stat().st_size == framed
    assert [b.get(n) for n in range(6)] == chunks
    b.ack(5)
    assert b.spilled_chunks == 0 and path.stat().st_size == 0 and b.mem_bytes == 0
    b.close()
    assert not path.exists()


def test_backlog_with_a_keeping_ring_frees_ring_space_on_ack_and_never_resends_it(tmp_path):
    # The ring topology: in-place chunks arrive already held by the ring, a
    # spilled chunk becomes held once it is copied in; a new generation
    # re-reads held chunks from the ring, so rewind resends nothing.
    shm = shared_memory.SharedMemory(create=True, size=HEADER_BYTES + 4096)
    ring = Ring(shm.buf, 4096)
    ring.pos[:] = 0
    try:
        b = Backlog(15, tmp_path / "spill.bin")
        first = Kept(ring, *ring.put(DATA, 0, b"a" * 100))
        assert b.may_hold() and b.add(first) == 0 and b.sent == 1
        assert b.add(b"b" * 10) == 1 and b.add(b"c" * 10) == 2  # the second one spills
        assert not b.may_hold() and b.spilled_chunks == 1
        for n in (1, 2):
            b.hold(n, Kept(ring, *ring.put(DATA, n, b.get(n))))
            b.sent += 1
        assert (b.mem_bytes, b.spilled_chunks, b.held_bytes) == (0, 0, 120 + 32 + 32)  # 8-aligned
        assert b.rewind() == 0 and b.sent == 3
        assert b.get(2) == b"c" * 10  # read back from the ring (the last-resort save)
        b.ack(1)
        assert int(ring.pos[1]) == 120 + 32 and b.held_bytes == 32
        assert [r[1] for r in iter(RingReader(ring).get, None)] == [2]
        b.close()
    finally:
        ring.release()
        shm.close()
        shm.unlink()


def test_an_end_accepted_by_a_full_pipe_is_pushed_until_the_reader_has_it_whole():
    # CI hang (fanout-pipe, saver killed): the restarted generation got the whole
    # backlog at once, the pipe filled, END was accepted with its tail left in
    # the sender's buffer and, being the last message, was never pushed again.
    import multiprocessing as mp

    from booktape.transport._channels import END, PipeSender, Receiver, SenderDownstream, parse
    from booktape.transport._child import Control

    r, w = mp.get_context("spawn").Pipe(duplex=False)
    down = SenderDownstream([], Control(mp.get_context("spawn")), PipeSender(w))
    sent = 0
    while down.try_send(sent, b"x" * 100_000):
        sent += 1
    inbox = Receiver(conns=[r])
    got = []
    # Make just enough room for END's first bytes, not the whole message.
    while not down.try_end(sent - 1):
        msg = inbox.recv(1.0)
        assert msg is not None, "the reader starved while END was still pending"
        got.append(parse(msg)[:2])
    assert down.try_end(sent - 1)  # idempotent once done
    while (msg := inbox.recv(0.2)) is not None:
        got.append(parse(msg)[:2])
    assert got[-1] == (END, sent - 1)
    assert [n for k, n in got[:-1]] == list(range(sent))
