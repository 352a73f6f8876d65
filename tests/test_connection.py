"""recorder.websocket.connection over a real socket pair, in gevent (no monkey-patching needed: gevent's own
sockets): it yields to other greenlets whatever the buffer holds, answers pings, and bounds the close wait."""

from __future__ import annotations

import os
import struct
import time

import gevent
import pytest
from gevent import socket
from test_frames import masked

from recorder.websocket import connection as connection_module
from recorder.websocket.connection import BATCH_FROM_CONNECTIONS, RECV_SIZE, YIELD_FRAMES, Connection
from recorder.websocket.frames import Close, Parser


def pair(pause_s: float = 0.0) -> tuple[Connection, socket.socket]:
    ours, theirs = socket.socketpair()
    return Connection(ours, b"", Parser(1024, 4096), pause_s), theirs


def count_turns(turns: list[int]) -> None:
    while True:
        gevent.sleep(0)
        turns.append(1)


def test_a_full_buffer_does_not_keep_other_greenlets_waiting() -> None:
    connection, peer = pair()
    frames = 20 * YIELD_FRAMES
    peer.sendall(masked(0x2, b"a") * frames)  # all waiting at once: recv never blocks
    turns: list[int] = []
    other = gevent.spawn(count_turns, turns)
    for _ in range(frames):
        assert connection.recv() == b"a"
    other.kill()
    assert len(turns) >= frames // YIELD_FRAMES - 1
    connection.close(wait_s=0)
    peer.close()


def test_a_ping_the_gone_peer_cannot_be_answered_costs_none_of_the_audio_before_it() -> None:
    connection, peer = pair()
    peer.sendall(masked(0x2, b"a") + masked(0x2, b"b") + masked(0x9, b"hi"))
    peer.close()  # its frames are still to be read; the pong has nowhere to go
    assert connection.receive() == [b"a", b"b"]
    assert connection.receive() == [] and connection.peer_close is None  # a dropped connection
    connection.close(wait_s=0)


def test_pings_are_answered_and_a_close_ends_receiving() -> None:
    connection, peer = pair()
    peer.sendall(masked(0x9, b"hi") + masked(0x8, struct.pack("!H", 1000) + b"bye"))
    assert connection.recv() is None
    assert connection.peer_close == Close(1000, "bye")
    assert peer.recv(100) == b"\x8a\x02hi"
    connection.close(wait_s=1)  # the peer's close is in: no wait
    peer.close()


def test_send_close_never_waits_on_a_peer_that_stopped_reading() -> None:
    ours, peer = socket.socketpair()
    ours.settimeout(0)
    try:
        while True:  # fill the peer's receive window and our send buffer
            ours.send(b"\x00" * 65536)
    except OSError:
        ours.settimeout(None)
    started = time.monotonic()
    Connection(ours, b"", Parser(1024, 4096), 0).send_close(1000, "bye")
    assert time.monotonic() - started < 0.5
    ours.close()
    peer.close()


def flood(peer: socket.socket) -> None:
    while True:
        peer.sendall(masked(0x2, b"x" * 100) * 10)


def test_the_close_wait_ends_at_its_deadline_whatever_the_peer_sends() -> None:
    connection, peer = pair()
    writer = gevent.spawn(flood, peer)
    connection.send_close(1002, "bad")
    started = time.monotonic()
    connection.close(wait_s=0.5)
    assert time.monotonic() - started < 1.0
    writer.kill()
    peer.close()


def test_the_close_wait_ends_at_the_peers_close_frame() -> None:
    connection, peer = pair()
    connection.send_close(1000)
    peer.sendall(masked(0x2, b"late audio") + masked(0x8, struct.pack("!H", 1000)))
    started = time.monotonic()
    connection.close(wait_s=5)
    assert time.monotonic() - started < 1.0
    assert peer.recv(100)[:4] == b"\x88\x02\x03\xe8"  # our close frame, then EOF
    assert peer.recv(100) == b""
    peer.close()


def test_what_is_waiting_is_taken_without_switching_greenlets() -> None:
    """A call ended from outside (a drain) while it paused between reads: the frames already in the kernel's
    buffer are still there to record, and taking them never lets another greenlet run."""
    connection, peer = pair(pause_s=0.04)
    peer.sendall(masked(0x1, b"{}") + masked(0x2, b"\x01\x00" * 320) + masked(0x9, b"p"))
    turns: list[int] = []
    other = gevent.spawn(count_turns, turns)
    gevent.sleep(0)  # the other greenlet is ready to run from here on
    before = len(turns)
    assert list(connection.waiting()) == ["{}", b"\x01\x00" * 320]
    assert len(turns) == before  # not one switch
    assert list(connection.waiting()) == []  # nothing more: it returns at once, still without waiting
    other.kill()
    connection.close(wait_s=0)
    peer.close()


class EndedFromOutside(Exception):
    pass


def test_a_call_ended_at_the_fairness_yield_loses_no_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """The drain ends a call by raising into its greenlet at a switch, and the fairness yield is one. It must come
    before a frame is taken, never while one is held, or `waiting()` would carry on with a frame missing (the
    200-call SIGTERM test once stored a recording with a 20 ms hole this way)."""
    connection, peer = pair()
    sent = [bytes([n % 256, n // 256]) for n in range(YIELD_FRAMES + 10)]
    peer.sendall(b"".join(masked(0x2, payload) for payload in sent))

    def ended_at_the_yield(seconds: float) -> None:
        raise EndedFromOutside  # what the drain's EndCall does at that switch

    received: list[bytes | str] = []
    monkeypatch.setattr(connection_module.gevent, "sleep", ended_at_the_yield)
    with pytest.raises(EndedFromOutside):
        while (message := connection.recv()) is not None:
            received.append(message)
    monkeypatch.undo()
    assert received + list(connection.waiting()) == sent
    connection.close(wait_s=0)
    peer.close()


def test_paused_connections_share_one_tick_and_one_ended_meanwhile_leaves_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paused calls wait on the worker's one read tick, not a timer each: every one is woken and reads what
    arrived. A call ended from outside while it waits (the drain's EndCall) leaves the tick, and the others go on."""
    monkeypatch.setattr(connection_module, "_ticks", {})  # this test's own tick
    monkeypatch.setattr(connection_module, "BATCH_FROM_CONNECTIONS", 3)  # as busy as a worker that batches
    pairs = [pair(pause_s=0.03) for _ in range(3)]
    received: list[list[bytes | str]] = [[], [], []]

    def read(number: int) -> None:
        connection = pairs[number][0]
        try:
            while (message := connection.recv()) is not None:
                received[number].append(message)
        except EndedFromOutside:
            gevent.sleep(0.1)  # the store's I/O, say: a tick must not switch into it (gevent: InvalidSwitchError)
            received[number].append("stored")

    readers = [gevent.spawn(read, number) for number in range(3)]
    gevent.sleep(0.01)  # all three wait on the tick now
    gevent.get_hub().loop.run_callback(readers[1].throw, EndedFromOutside)  # from the hub, as LiveCalls.end does
    for _, peer in pairs:
        peer.sendall(masked(0x2, b"a") + masked(0x8, struct.pack("!H", 1000)))
    gevent.joinall(readers, timeout=2)
    assert received == [[b"a"], ["stored"], [b"a"]]
    assert all(reader.successful() for reader in readers)
    assert list(connection_module._ticks) == [0.03] and not connection_module._ticks[0.03]._waiting
    for connection, peer in pairs:
        connection.close(wait_s=0)
        peer.close()


def test_a_worker_with_few_connections_reads_each_frame_as_it_lands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batching pays only once a worker is busy: below BATCH_FROM_CONNECTIONS a paused call does not wait for the
    tick (here 10 s away) but reads what arrives at once; from there on it waits for the tick again."""
    monkeypatch.setattr(connection_module, "_ticks", {})
    connections = [pair(pause_s=10.0) for _ in range(BATCH_FROM_CONNECTIONS - 1)]
    connection, peer = connections[0]

    def sent_later(payload: bytes) -> None:
        gevent.sleep(0.05)  # the buffer is dry when the call asks for more
        peer.sendall(masked(0x2, payload))

    gevent.spawn(sent_later, b"a")
    with gevent.Timeout(2):
        assert connection.recv() == b"a"
    connections.append(pair(pause_s=10.0))  # now the worker has enough connections to batch
    gevent.spawn(sent_later, b"b")
    with pytest.raises(gevent.Timeout), gevent.Timeout(2):
        connection.recv()
    newest, its_peer = connections.pop()
    newest.close(wait_s=0)  # one fewer again: the next read is at once
    its_peer.close()
    assert connection.recv() == b"b"
    for ours, theirs in connections:
        ours.close(wait_s=0)
        theirs.close()


class CountedReads:
    """The os module as connection.py sees it, counting its reads."""

    def __init__(self) -> None:
        self.reads = 0

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)

    def read(self, fd: int, size: int) -> bytes:
        self.reads += 1
        return os.read(fd, size)


def test_a_read_that_took_exactly_a_full_buffer_goes_back_to_waiting_for_the_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read that took exactly RECV_SIZE bytes cannot tell whether more is waiting, so the next one comes at once.
    If nothing was, the call waits for the tick again: it used to retry, yielding between tries, until the peer's
    next frame."""
    monkeypatch.setattr(connection_module, "_ticks", {})
    monkeypatch.setattr(connection_module, "BATCH_FROM_CONNECTIONS", 1)
    counted = CountedReads()
    monkeypatch.setattr(connection_module, "os", counted)
    connection, peer = pair(pause_s=0.05)
    frame = masked(0x2, b"a" * (4096 - 8))  # 4,096 bytes on the wire: 16 of them fill one read exactly
    peer.sendall(frame * (RECV_SIZE // len(frame)))
    assert len(connection.receive()) == RECV_SIZE // len(frame)
    before = counted.reads
    with pytest.raises(gevent.Timeout), gevent.Timeout(0.3):
        connection.receive()  # nothing more comes
    assert counted.reads - before < 20  # the one that found nothing, then one a tick (about 7), not thousands
    connection.close(wait_s=0)
    peer.close()
