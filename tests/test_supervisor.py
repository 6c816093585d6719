"""The acquirer's backlog: acknowledgements free memory, rewind resends, spill past the limit."""

from __future__ import annotations

from booktape.transport.backlog import Backlog


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
    assert b.mem_bytes == 20 and b.spilled_chunks == 4 and path.stat().st_size == 40
    assert [b.get(n) for n in range(6)] == chunks
    b.ack(5)
    assert b.spilled_chunks == 0 and path.stat().st_size == 0 and b.mem_bytes == 0
    b.close()
    assert not path.exists()
