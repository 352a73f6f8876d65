"""The closing handshake: a provider's hang-up is stored without waiting for it, and a close before the call's
handshake closes TCP at once (issue 13; Autobahn), against the real recorder under gunicorn."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator

import pytest
from support.rawws import RawClient
from support.stack import Stack
from test_provider_clock import media, twilio_client


@pytest.fixture
def stack(local_stack: Stack) -> Iterator[Stack]:
    yield local_stack


def test_a_providers_hang_up_is_stored_without_waiting_for_the_close_handshake(stack: Stack) -> None:
    """Issue 13: after Twilio's `stop`, storing does not wait out the 2 s close wait; a peer that never answers
    our close frame is dropped after it."""
    client = twilio_client(stack, "CA-quick-stop")
    for n in range(50):
        client.text(media(n * 20))
    stopped = time.monotonic()
    client.text(json.dumps({"event": "stop"}))  # and no close frame from us
    stack.stored("CA-quick-stop")
    assert time.monotonic() - stopped < 1.0
    assert client.close_code() == 1000
    client.close()


def test_close_before_the_handshake_closes_tcp_at_once(stack: Stack) -> None:
    """Autobahn: a peer that pings, then closes without a call handshake, is answered and disconnected."""
    client = RawClient(stack.recorder_port, "/ws/vonage")
    client.send_frame(0x9, b"hi")
    assert client.recv_frame() == (0xA, b"hi")
    started = time.monotonic()
    client.send_frame(0x8, struct.pack("!H", 1000))
    assert client.recv_frame() == (0x8, struct.pack("!H", 1000))
    with pytest.raises(EOFError):
        client.recv_frame()
    assert time.monotonic() - started < 1.0  # not the 2 s handshake timeout
    client.close()
