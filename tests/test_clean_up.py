"""Deleting a stored call's parts waits until the worker's other calls are stored: in Cloud Storage the deletes
are requests too (five for a 30 s call), and made during a burst of hang-ups they held the calls still storing
back. In-process, on real sockets and a real directory store, one of whose calls waits on its store as a call
does on the network."""

from __future__ import annotations

import json
import socket as stdlib_socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gevent
import pytest
from gevent import socket
from gevent.event import Event
from support.rawws import masked_frame

from recorder import app
from recorder.live_calls import LiveCalls
from recorder.protocols.vonage import VonageAdapter
from recorder.session import CallSession
from recorder.settings import Settings
from recorder.store import LocalStore
from recorder.websocket.connection import Connection
from recorder.websocket.frames import Parser
from webhook.tokens import issue_token

SECRET = "s" * 32


class StoreThatWaits(LocalStore):
    """A directory store whose call `slow` is assembled only once `release` is set."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.release = Event()

    def assemble(
        self, key: str, header: bytes, parts: Mapping[int, int], name: str, metadata: Mapping[str, Any]
    ) -> int:
        if key == "slow":
            self.release.wait()
        return super().assemble(key, header, parts, name, metadata)


def hung_up_call(call_id: str, settings: Settings, store: LocalStore, calls: LiveCalls) -> gevent.Greenlet:
    """A Vonage call that has sent its handshake, some audio and its close frame, then shut its side."""
    ours, theirs = socket.socketpair()
    connected = {"event": "websocket:connected", "content-type": "audio/l16;rate=16000", "uuid": call_id}
    theirs.sendall(
        masked_frame(0x1, json.dumps(connected).encode())
        + masked_frame(0x2, bytes(100))
        + masked_frame(0x8, b"\x03\xe8")
    )
    theirs.shutdown(stdlib_socket.SHUT_WR)
    connection = Connection(ours, b"", Parser(4096, 65536), 0)
    connection.taken = True
    token = issue_token(SECRET, call_id, "vonage")
    session = CallSession(VonageAdapter(), settings, store, token, calls.claim, Path(settings.spool_dir))
    greenlet = gevent.spawn(app.record_call, connection, session, calls, True)
    greenlet.link(lambda _: theirs.close())
    return greenlet


def test_a_stored_calls_parts_wait_until_the_other_calls_are_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app, "CLEAN_UP_DELAY_S", 0.01)
    settings = Settings(secret=SECRET, spool_dir=str(tmp_path / "spool"), spool_reserve_mb=0)
    (tmp_path / "spool").mkdir()
    store, calls = StoreThatWaits(str(tmp_path / "store")), LiveCalls(settings)
    slow = hung_up_call("slow", settings, store, calls)
    quick = hung_up_call("quick", settings, store, calls)
    parts = [tmp_path / "store/.parts/calls/quick/audio", tmp_path / "store/.parts/leases/quick"]

    gevent.sleep(0.3)  # the quick call is stored, and its clean-up delay is long over
    assert list((tmp_path / "store").glob("*/*/*/quick.wav"))
    assert all(path.exists() for path in parts), "deleted while another call was still storing"
    assert not slow.dead

    store.release.set()
    gevent.joinall([slow, quick], timeout=5, raise_error=True)
    assert list((tmp_path / "store").glob("*/*/*/slow.wav"))
    assert not any(path.exists() for path in parts)
    assert not (tmp_path / "store/.parts/calls/slow").exists()
