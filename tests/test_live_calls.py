"""recorder.live_calls in gevent: a call is ended only while it is receiving, never once it is storing (issue 8:
an EndCall raised into the store lost the call), and connections without a token never take a call's slot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gevent
import gevent.event
import pytest
from gevent import socket

from recorder.closing import CloseCode, EndCall, Refused
from recorder.live_calls import LiveCalls
from recorder.settings import Settings
from recorder.websocket.connection import Connection
from recorder.websocket.frames import Parser


@pytest.fixture
def connection() -> Iterator[Connection]:
    ours, theirs = socket.socketpair()
    yield Connection(ours, b"", Parser(1024, 4096), 0)
    ours.close()
    theirs.close()


def live_calls(tmp_path: Path, **settings: int) -> LiveCalls:
    return LiveCalls(Settings(secret="s" * 32, spool_dir=str(tmp_path), spool_reserve_mb=0, **settings))  # type: ignore[arg-type]


def test_an_end_that_arrives_once_the_call_is_storing_is_dropped(tmp_path: Path, connection: Connection) -> None:
    calls, stored = live_calls(tmp_path), []

    def call() -> None:
        with calls.holding(connection, vouched=True):
            calls.claim("c1")
            calls.end(gevent.getcurrent(), CloseCode.GOING_AWAY, "the recorder is shutting down")  # the drain
            calls.storing()  # receiving ended (the peer hung up) before the end was delivered
            gevent.sleep(0.05)  # the upload switches greenlets: the hub delivers pending callbacks now
            stored.append("c1")

    gevent.spawn(call).get(timeout=5)
    assert stored == ["c1"]


def test_an_end_while_receiving_is_raised_where_the_call_waits(tmp_path: Path, connection: Connection) -> None:
    calls = live_calls(tmp_path)

    def call() -> str:
        with calls.holding(connection, vouched=True):
            calls.claim("c1")
            try:
                gevent.sleep(5)  # waiting for the next message
            except EndCall as end:
                return end.reason
            return "not ended"

    greenlet = gevent.spawn(call)
    gevent.sleep(0.01)
    calls.end(greenlet, CloseCode.GOING_AWAY, "ended")
    assert greenlet.get(timeout=5) == "ended"


def test_connections_without_a_token_never_take_a_calls_slot(tmp_path: Path, connection: Connection) -> None:
    calls = live_calls(tmp_path, max_calls=1, max_unauthenticated=2)

    def stranger() -> None:
        with calls.holding(connection, vouched=False):
            gevent.sleep(5)  # no handshake

    waiting = [gevent.spawn(stranger) for _ in range(2)]
    gevent.sleep(0.01)
    assert calls.upgrade_refusal() == "this worker already has 2 connections awaiting their handshake"

    def call(call_id: str) -> None:
        with calls.holding(connection, vouched=True):
            calls.claim(call_id)
            gevent.sleep(0.05)

    first = gevent.spawn(call, "c1")
    gevent.sleep(0.01)
    second = gevent.spawn(call, "c2")
    first.get(timeout=5)
    with pytest.raises(Refused, match="already holds 1 calls"):
        second.get(timeout=5)
    gevent.killall(waiting)
    assert calls.upgrade_refusal() is None


def test_a_call_is_refused_a_second_stream_only_while_its_first_receives(
    tmp_path: Path, connection: Connection
) -> None:
    """The worker's own check; the store's claim refuses a second stream after the first ended (test_recording)."""
    calls = live_calls(tmp_path)

    def stream(then_storing: bool) -> None:
        with calls.holding(connection, vouched=True):
            calls.claim("c1")
            gevent.sleep(0.05)
            if then_storing:
                calls.storing()
                gevent.sleep(0.05)

    def second_stream() -> str:
        with calls.holding(connection, vouched=True):
            try:
                calls.claim("c1")
            except Refused as refused:
                return refused.reason
            return "admitted"

    for then_storing in (True, False):
        first = gevent.spawn(stream, then_storing)
        gevent.sleep(0.01)
        assert second_stream() == "this call is already being recorded on another stream"
        gevent.sleep(0.06)  # the first is storing now, or gone
        assert second_stream() == "admitted"
        first.get(timeout=5)
    assert second_stream() == "admitted"


def test_waiting_for_the_stores_ends_when_the_last_is_stored_or_at_the_timeout(
    tmp_path: Path, connection: Connection
) -> None:
    calls, release = live_calls(tmp_path), gevent.event.Event()

    def call(call_id: str) -> None:
        with calls.holding(connection, vouched=True):
            calls.claim(call_id)
            calls.storing()
            release.wait()
            calls.stored()

    storing = [gevent.spawn(call, f"c{n}") for n in range(2)]
    gevent.sleep(0.01)
    assert calls.wait_for_stores(0.05) is False  # both still storing: the wait gives up
    release.set()
    assert calls.wait_for_stores(5) is True
    gevent.joinall(storing, raise_error=True)
    assert calls.wait_for_stores(0) is True  # nobody storing: no wait at all
