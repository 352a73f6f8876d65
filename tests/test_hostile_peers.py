"""One peer cannot hurt other calls: floods, slow request heads, sockets without a token, a provider clock turned
against the recorder (defects #1, #2, #6, #7, #15), against the real recorder under gunicorn."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest
from conftest import Stack, run, running_stack, wait_for
from rawws import RawClient

from callsim import twilio, vonage
from callsim.audio import read_wav, sample

pytestmark = pytest.mark.slow


def masked_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    key = b"\x01\x02\x03\x04"
    return (
        bytes(((0x80 if fin else 0) | opcode, 0x80 | len(payload)))
        + key
        + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    )


class HealthProbe:
    """Polls /healthz every 50 ms from a thread and keeps the worst latency."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/healthz"
        self.worst = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            with urlopen(self.url, timeout=30) as response:
                assert response.read() == b"ok"
            self.worst = max(self.worst, time.monotonic() - started)
            time.sleep(0.05)


def flood(client: RawClient, blob: bytes, seconds: float) -> float:
    """Send `blob` over and over until the recorder closes the connection; return when that was."""
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            client.sock.sendall(blob)
    except OSError:
        pass
    return time.monotonic() - started


def logged(stack: Stack, words: str) -> list[dict[str, object]]:
    return [e for e in stack.logs() if words in str(e["message"])]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("hostile"), None, REQUEST_HEAD_TIMEOUT_S="1") as running:
        yield running


def run_alongside_a_victim_call(stack: Stack, attack: Callable[[], float], victim_id: str) -> tuple[float, float]:
    """Runs `attack` while a real call streams at real-time pace and /healthz is polled; checks the victim's
    recording; returns how long the attack lasted and /healthz's worst latency."""
    audio = read_wav(sample(16000))
    results: dict[str, object] = {}
    caller = threading.Thread(
        target=lambda: results.update(call=run(vonage.call(stack.answer_url(), audio, call_id=victim_id)))
    )
    with HealthProbe(stack.recorder_port) as probe:
        caller.start()
        wait_for(lambda: stack.logs_for(victim_id), what="the victim call to start")
        lasted = attack()
        caller.join()
    assert stack.stored(victim_id).pcm == audio.data
    stored = [e for e in stack.logs_for(victim_id) if e["message"] == "recording stored"]
    assert float(stored[0]["worst_lag_ms"]) < 1000  # type: ignore[arg-type]
    return lasted, probe.worst


def test_a_flood_during_the_close_wait_cannot_stall_the_worker(stack: Stack) -> None:
    """defects #1 B: a refused peer that never answers our close frame and floods instead. The close wait used to
    read its frames for ever without yielding: /healthz, the timers and every other call stalled."""
    client = RawClient(stack.recorder_port, "/ws/vonage")

    def attack() -> float:
        client.binary(b"\x00" * 640)  # audio before the handshake: refused with 1002
        return flood(client, masked_frame(0x2, b"\x00" * 100) * 600, seconds=10)

    lasted, worst = run_alongside_a_victim_call(stack, attack, "close-wait-victim")
    client.close()
    assert lasted < 3.0  # the close wait is bounded in time (2 s) and bytes (1 MiB)
    assert worst < 1.0


def test_a_flood_of_messages_cannot_stall_another_call_healthz_or_the_handshake_timer(stack: Stack) -> None:
    """defects #1 A: messages the adapter ignores, as fast as the socket takes them, from a peer with no token."""
    client = RawClient(stack.recorder_port, "/ws/twilio")
    client.text(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    blob = masked_frame(0x1, b'{"event":"mark"}') * 3000  # 66 kB: the kernel buffer stays full
    lasted, worst = run_alongside_a_victim_call(stack, lambda: flood(client, blob, seconds=10), "flood-victim")
    client.close()
    # The handshake deadline (2 s here) still fired on time, and nothing else waited on the flood.
    assert 1.5 < lasted < 4.0
    assert logged(stack, "closing with POLICY_VIOLATION: no authorised call handshake within 2 s")
    assert worst < 1.0


@pytest.mark.parametrize(
    ("kind", "frame"),
    [
        ("pongs", masked_frame(0xA, b"x")),
        ("pings", masked_frame(0x9, b"x")),
        ("empty fragments", masked_frame(0x0, b"", fin=False)),
    ],
)
def test_a_control_frame_flood_is_closed_at_once(stack: Stack, kind: str, frame: bytes) -> None:
    words = "over 100 control frames or empty fragments without a data message"
    before = len(logged(stack, words))
    client = RawClient(stack.recorder_port, "/ws/vonage")
    if kind == "empty fragments":
        client.send_frame(0x1, b"{", fin=False)  # a message begun, never finished
    flooded_for = flood(client, frame * 10000, seconds=10)
    client.close()
    assert flooded_for < 1.5
    wait_for(lambda: len(logged(stack, words)) == before + 1, what="one log line for the flood")


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


def test_audio_sent_faster_than_real_time_gets_no_further_than_300_s_ahead(stack: Stack) -> None:
    """A Vonage stream's position is its running byte count: a peer flooding audio frames used to be able to write
    as fast as the disk took it, whatever MAX_CALL_SECONDS said."""
    endpoint = vonage.websocket_endpoint(vonage.fetch_ncco(stack.answer_url(), "audio-flood", "1", "2"))
    uri = urlsplit(str(endpoint["uri"]))
    client = RawClient(stack.recorder_port, f"{uri.path}?{uri.query}")
    headers = {"event": "websocket:connected", "content-type": endpoint["content-type"], **endpoint["headers"]}
    client.text(json.dumps(headers))
    started = time.monotonic()
    flood(client, masked_frame(0x2, b"\x01\x00" * 60) * 1000, seconds=2.0)  # 7.5 ms of audio a frame
    client.send_frame(0x8, struct.pack("!H", 1000))
    elapsed = time.monotonic() - started
    assert client.close_code() == 1000
    client.close()
    recording = stack.stored("audio-flood")
    assert len(recording.pcm) <= (300 + elapsed + 1) * 16000 * 2
    assert int(recording.metadata["ahead_drops"]) > 0


def twilio_client(stack: Stack, call_id: str, rate: int = 8000) -> RawClient:
    url, _, parameters = twilio.stream_verb(twilio.fetch_twiml(stack.answer_url("twilio"), call_id, "1", "2"))
    client = RawClient(stack.recorder_port, urlsplit(url).path)
    media_format = {"encoding": "audio/x-mulaw", "sampleRate": rate}
    start = {"callSid": call_id, "tracks": ["inbound"], "customParameters": parameters, "mediaFormat": media_format}
    client.text(json.dumps({"event": "start", "start": start}))
    return client


MULAW_CHUNK = base64.b64encode(b"\xff" * 160).decode()  # 20 ms of 8 kHz mu-law silence (decodes to 0)


def media(timestamp_ms: int, payload: str = MULAW_CHUNK) -> str:
    return json.dumps(
        {"event": "media", "media": {"track": "inbound", "timestamp": str(timestamp_ms), "payload": payload}}
    )


def test_a_clock_jumping_an_hour_is_clamped_not_an_hour_of_silence(stack: Stack) -> None:
    """defects #2: three messages an hour ahead each, in a call of 100 chunks (2 s)."""
    client = twilio_client(stack, "CA-jump")
    position = 0
    for n in range(100):
        if n in (25, 50, 75):
            position += 3_600_000
        client.text(media(position))
        position += 20
    client.text(json.dumps({"event": "stop"}))
    assert client.close_code() == 1000
    client.close()
    recording = stack.stored("CA-jump")
    assert len(recording.pcm) == 100 * 320
    assert recording.metadata["clamped"] == "3"


def test_a_clock_that_restarts_keeps_the_rest_of_the_call(stack: Stack) -> None:
    """defects #15: timestamps restarting at 10 s; 20 s sent must be 20 s recorded."""
    client = twilio_client(stack, "CA-reset")
    for n in range(1000):
        client.text(media((n % 500) * 20))
    client.text(json.dumps({"event": "stop"}))
    assert client.close_code() == 1000
    client.close()
    recording = stack.stored("CA-reset")
    assert len(recording.pcm) == 1000 * 320
    assert (recording.metadata["discontinuities"], recording.metadata["duplicates"]) == ("1", "0")


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
