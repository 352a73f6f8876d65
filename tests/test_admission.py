"""Before a call is authenticated it costs little and never long: slow request heads, refused upgrades with an
endless body, sockets without a token (defects #6, #7), against the real recorder under gunicorn."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from urllib.request import urlopen

import pytest
from support.rawws import RawClient
from support.stack import Stack, run, running_stack

from callsim import vonage
from callsim.audio import read_wav, sample

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("admission"), None, REQUEST_HEAD_TIMEOUT_S="1") as running:
        yield running


def test_a_slow_request_head_is_dropped_and_healthz_still_answers(stack: Stack) -> None:
    """defects #7: partial request heads, and one that dribbles a byte at a time, are dropped after 1 s."""
    partial = [socket.create_connection(("127.0.0.1", stack.recorder_port), timeout=10) for _ in range(50)]
    for sock in partial:
        sock.sendall(b"GET /ws/vonage HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
    dribbler = socket.create_connection(("127.0.0.1", stack.recorder_port), timeout=10)
    started = time.monotonic()
    try:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\n":
            dribbler.sendall(bytes([byte]))
            time.sleep(0.1)
        raise AssertionError("the dribbling client was never dropped")
    except OSError:
        assert time.monotonic() - started < 3.0
    with urlopen(f"http://127.0.0.1:{stack.recorder_port}/healthz", timeout=5) as response:
        assert response.read() == b"ok"
    for sock in partial:
        answer = read_to_eof(sock)  # the recorder closes it, or our 10 s socket timeout fails the test
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        sock.close()
    assert time.monotonic() - started < 5.0
    dribbler.close()


def read_to_eof(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_a_refused_upgrade_with_an_endless_body_is_dropped_in_time(stack: Stack) -> None:
    """A refusal is bounded in bytes and time: gevent discards a request's body after answering, for as long as
    the declared Content-Length lasts."""
    sock = socket.create_connection(("127.0.0.1", stack.recorder_port), timeout=10)
    sock.sendall(
        b"GET /ws/skype HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 999999999\r\n\r\n"
    )
    started = time.monotonic()
    try:
        while time.monotonic() - started < 8:
            sock.sendall(b"\x00" * 65536)
            time.sleep(0.01)
        raise AssertionError("the refused upgrade's body was read for 8 s")
    except OSError:
        assert time.monotonic() - started < 3.0
    sock.close()


def test_sockets_without_a_token_cannot_fill_max_calls(tmp_path_factory: pytest.TempPathFactory) -> None:
    """defects #6: with MAX_CALLS=2, three idle unauthenticated sockets used to keep every real call out."""
    tmp = tmp_path_factory.mktemp("admission")
    with running_stack(tmp, None, MAX_CALLS="2", MAX_UNAUTHENTICATED="3") as admission:
        idle = [RawClient(admission.recorder_port, "/ws/vonage") for _ in range(3)]
        assert [client.status for client in idle] == [101, 101, 101]
        over = RawClient(admission.recorder_port, "/ws/vonage")
        assert over.status == 503  # refused before the 101, and never a call's slot
        over.close()
        audio = read_wav(sample(16000))

        async def two_real_calls() -> list[vonage.CallResult]:
            calls = [vonage.call(admission.answer_url(), audio, speed=4, call_id=f"admitted-{n}") for n in range(2)]
            return await asyncio.gather(*calls)

        results = run(two_real_calls())
        assert [result.close_code for result in results] == [1000, 1000]
        for n in range(2):
            assert admission.stored(f"admitted-{n}").pcm == audio.data
        for client in idle:
            assert client.close_code() == 1008  # their handshake deadline
            client.close()
