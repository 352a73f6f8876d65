"""Bad input gets one close code and one log line naming the problem; audio received before it is kept.
Also RFC 6455 conformance, with malformed frames sent from a raw socket."""

from __future__ import annotations

import base64
import json
import struct
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from support.rawws import RawClient
from support.stack import Stack, count_logged, run, running_stack, wait_for

from callsim import twilio, vonage
from callsim.audio import read_wav, sample
from callsim.common import CallResult
from devstack import LOCAL_SECRET

FRAME = b"\x01\x00\x02\x00" * 160  # 20 ms of 16 kHz audio


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    limits = {"MAX_MESSAGE_BYTES": "4096", "MAX_TEXT_BYTES": "1024", "MAX_CALL_SECONDS": "2"}
    with running_stack(tmp_path_factory.mktemp("limits"), None, **limits) as running:
        yield running


def open_vonage(stack: Stack, call_id: str) -> tuple[RawClient, dict[str, object]]:
    endpoint = vonage.websocket_endpoint(vonage.fetch_ncco(stack.answer_url(), call_id, "1", "2"))
    uri = urlsplit(str(endpoint["uri"]))
    client = RawClient(stack.recorder_port, f"{uri.path}?{uri.query}")
    assert client.status == 101
    return client, endpoint


def connected(endpoint: dict[str, object]) -> str:
    return json.dumps({"event": "websocket:connected", "content-type": endpoint["content-type"], **endpoint["headers"]})  # type: ignore[dict-item]


def refusals(stack: Stack, words: str) -> list[dict[str, object]]:
    return [e for e in stack.logs() if e["severity"] == "WARNING" and words in str(e["message"])]


def close_with(payload: bytes) -> Callable[[RawClient], None]:
    return lambda client: client.send_frame(0x8, payload)


VONAGE_MID_CALL = [
    ("malformed JSON", lambda c: c.text("{not json"), 1007, "not valid JSON"),
    ("oversized binary", lambda c: c.binary(b"\x00" * 5000), 1009, "binary message over 4096 bytes"),
    (
        "oversized text",
        lambda c: c.text(json.dumps({"event": "x", "pad": "y" * 2000})),
        1009,
        "text message over 1024 bytes",
    ),
    ("invalid UTF-8", lambda c: c.send_frame(0x1, b"\xff\xfe"), 1007, "not valid UTF-8"),
    ("reserved bits", lambda c: c.send_frame(0x2, FRAME, rsv=0b100), 1002, "reserved bits"),
    ("reserved opcode", lambda c: c.send_frame(0x3, b"x"), 1002, "unexpected opcode 3"),
    ("long control frame", lambda c: c.send_frame(0x9, b"p" * 126), 1002, "control frames"),
    ("unmasked frame", lambda c: c.send_frame(0x2, FRAME, mask=False), 1002, "must be masked"),
    ("stray continuation", lambda c: c.send_frame(0x0, b"x"), 1002, "unexpected opcode 0"),
    # Autobahn 7.3, 7.5, 7.9: the peer's close frame is checked too (RFC 6455 sections 5.5.1 and 7.4).
    *[
        (
            f"close code {code}",
            close_with(struct.pack("!H", code)),
            1002,
            f"close code {code} is not one a peer may send",
        )
        for code in (999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 5000)
    ],
    ("one-byte close", close_with(b"\x03"), 1002, "a close frame's status code needs 2 bytes"),
    ("close reason not UTF-8", close_with(b"\x03\xe8\xff\xfe"), 1007, "close reason is not valid UTF-8"),
]


@pytest.mark.parametrize(("case", "send_bad", "code", "words"), VONAGE_MID_CALL, ids=[c[0] for c in VONAGE_MID_CALL])
def test_bad_input_mid_call_closes_with_its_code_and_keeps_the_audio(
    stack: Stack, case: str, send_bad: Callable[[RawClient], None], code: int, words: str
) -> None:
    call_id = f"bad-{case.replace(' ', '-')}"
    client, endpoint = open_vonage(stack, call_id)
    client.text(connected(endpoint))
    for _ in range(25):
        client.binary(FRAME)
    send_bad(client)
    assert client.close_code() == code
    client.close()
    recording = stack.stored(call_id)
    assert recording.pcm == FRAME * 25
    assert (
        recording.metadata["end_reason"] == f"protocol error: {refusals(stack, words)[0]['message'].split(': ', 1)[1]}"
    )
    assert len([e for e in refusals(stack, words) if e.get("call_id") == call_id]) == 1


BEFORE_HANDSHAKE = [
    ("audio first", "/ws/vonage", lambda c: c.binary(FRAME), 1002, "audio before websocket:connected"),
    ("unknown first message", "/ws/vonage", lambda c: c.text('{"event":"hello"}'), 1002, "first message is 'hello'"),
    (
        "twilio on the vonage path",
        "/ws/vonage",
        lambda c: c.text('{"event":"connected","protocol":"Call"}'),
        1002,
        "first message is 'connected'",
    ),
    (
        "vonage audio on the twilio path",
        "/ws/twilio",
        lambda c: c.binary(FRAME),
        1003,
        "binary message on a Twilio/SignalWire stream",
    ),
    (
        "unsupported encoding",
        "/ws/twilio",
        lambda c: c.text(
            json.dumps(
                {
                    "event": "start",
                    "start": {"callSid": "CA1", "mediaFormat": {"encoding": "audio/x-opus", "sampleRate": 48000}},
                }
            )
        ),
        1003,
        "unsupported media format",
    ),
]


@pytest.mark.parametrize(
    ("case", "path", "send_bad", "code", "words"), BEFORE_HANDSHAKE, ids=[c[0] for c in BEFORE_HANDSHAKE]
)
def test_bad_input_before_the_handshake_closes_with_its_code(
    stack: Stack, case: str, path: str, send_bad: Callable[[RawClient], None], code: int, words: str
) -> None:
    before = len(refusals(stack, words))
    client = RawClient(stack.recorder_port, path)
    send_bad(client)
    assert client.close_code() == code
    client.close()
    wait_for(lambda: len(refusals(stack, words)) == before + 1, what=f"one log line saying {words!r}")


def test_invalid_base64_keeps_the_chunks_before_it(stack: Stack) -> None:
    call_id = "CA-bad-base64"
    url, _, parameters = twilio.stream_verb(twilio.fetch_twiml(stack.answer_url("twilio"), call_id, "1", "2"))
    client = RawClient(stack.recorder_port, urlsplit(url).path)
    client.text(
        json.dumps(
            {
                "event": "start",
                "start": {
                    "callSid": call_id,
                    "tracks": ["inbound"],
                    "customParameters": parameters,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
                },
            }
        )
    )
    chunk = base64.b64encode(b"\xff" * 160).decode()
    for n in range(10):
        client.text(
            json.dumps({"event": "media", "media": {"track": "inbound", "timestamp": str(n * 20), "payload": chunk}})
        )
    client.text(json.dumps({"event": "media", "media": {"track": "inbound", "timestamp": "200", "payload": "%%"}}))
    assert client.close_code() == 1007
    client.close()
    assert stack.stored(call_id).pcm == b"\x00\x00" * 1600  # 0xFF decodes to 0: ten chunks of silence


def test_a_call_longer_than_max_call_seconds_is_ended_and_stored(stack: Stack) -> None:
    audio = read_wav(sample(16000))
    result: CallResult = run(vonage.call(stack.answer_url(), audio, call_id="too-long"))
    assert result.close_code == 1008
    recording = stack.stored("too-long")
    # The limit counts from the connection, before the handshake and the first audio: a little under 2 s.
    assert 1.5 * 32000 <= len(recording.pcm) < 3 * 32000
    assert recording.pcm == audio.data[: len(recording.pcm)]
    assert recording.metadata["end_reason"] == "call longer than 2 s"


def test_a_live_calls_token_cannot_open_a_second_recording(stack: Stack) -> None:
    client, endpoint = open_vonage(stack, "replayed")
    client.text(connected(endpoint))
    client.binary(FRAME)
    wait_for(lambda: count_logged(stack, "call started") and stack.logs_for("replayed"), what="the first stream")

    async def replay() -> int | None:
        result = await vonage.stream(endpoint, read_wav(sample(16000)), call_id="replayed", speed=0)
        return result.close_code

    assert run(replay()) == 1008
    assert refusals(stack, "already being recorded on another stream")
    client.binary(FRAME)
    client.send_frame(0x8, struct.pack("!H", 1000))
    assert client.close_code() == 1000
    client.close()
    assert stack.stored("replayed").pcm == FRAME * 2


def test_pings_are_answered_and_fragments_reassembled(stack: Stack) -> None:
    client, endpoint = open_vonage(stack, "fragments")
    client.send_frame(0x9, b"are you there")
    assert client.recv_frame() == (0xA, b"are you there")
    text = connected(endpoint).encode()
    client.send_frame(0x1, text[:10], fin=False)
    client.send_frame(0x9, b"mid-message ping")  # control frames may interleave a fragmented message
    assert client.recv_frame() == (0xA, b"mid-message ping")
    client.send_frame(0x0, text[10:])
    client.send_frame(0x2, FRAME[:100], fin=False)
    client.send_frame(0x0, FRAME[100:])
    client.send_frame(0x8, struct.pack("!H", 1000) + b"bye")
    assert client.close_code() == 1000  # our close echoes the peer's code (RFC 6455 section 5.5.1)
    started = time.monotonic()
    assert client.sock.recv(1) == b""  # and the recorder closes TCP at once (section 7.1.1), not at a timeout
    assert time.monotonic() - started < 1.0
    client.close()
    assert stack.stored("fragments").pcm == FRAME


def test_the_close_code_sent_is_well_formed(stack: Stack) -> None:
    client = RawClient(stack.recorder_port, "/ws/vonage")
    client.binary(FRAME)
    opcode, payload = client.recv_frame()
    assert opcode == 0x8 and struct.unpack("!H", payload[:2])[0] == 1002
    assert payload[2:].decode() == "audio before websocket:connected"
    client.close()


def test_no_secret_or_token_reaches_the_logs(stack: Stack) -> None:
    """Every test above ran against this stack, refused tokens and all: nothing secret was written down."""
    logs = stack.recorder_log.read_text() + "".join(p.read_text() for p in stack.recorder_log.parent.glob("function-*"))
    assert LOCAL_SECRET not in logs
    assert "token=" not in logs and "eyJ" not in logs  # no JWT (they start with base64 '{"')
