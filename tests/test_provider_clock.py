"""The provider's clock cannot be turned against the recorder: a jump ahead, a restart, audio sent faster than real
time (defects #2, #15), against the real recorder under gunicorn."""

from __future__ import annotations

import base64
import json
import struct
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from support.rawws import RawClient, masked_frame
from support.stack import Stack

from callsim import twilio, vonage

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(local_stack: Stack) -> Iterator[Stack]:
    yield local_stack


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
    assert recording.metadata["clamped"] == 3  # the local .json is typed


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
    assert (recording.metadata["discontinuities"], recording.metadata["duplicates"]) == (1, 0)


def test_audio_sent_faster_than_real_time_gets_no_further_than_300_s_ahead(stack: Stack) -> None:
    """A Vonage stream's position is its running byte count: a peer flooding audio frames used to be able to write
    as fast as the disk took it, whatever MAX_CALL_SECONDS said."""
    endpoint = vonage.websocket_endpoint(vonage.fetch_ncco(stack.answer_url(), "audio-flood", "1", "2"))
    uri = urlsplit(str(endpoint["uri"]))
    client = RawClient(stack.recorder_port, f"{uri.path}?{uri.query}")
    headers = {"event": "websocket:connected", "content-type": endpoint["content-type"], **endpoint["headers"]}
    started = time.monotonic()  # before the call starts: the recorder's wall-clock bound counts from its start
    client.text(json.dumps(headers))
    # 3.75 ms of 16 kHz audio a frame, 3.75 s a blob: 400 s of audio, however long the recorder takes to read it
    # (a time limit made a loaded machine fall short of 300 s ahead: a paused call reads what its socket buffer
    # holds once per READ_BATCH_MS). The recorder reads everything sent before the close frame.
    client.flood(masked_frame(0x2, b"\x01\x00" * 60) * 1000, seconds=60.0, times=107)
    client.send_frame(0x8, struct.pack("!H", 1000))
    assert client.close_code() == 1000
    # Until its close frame the recorder was still taking what the kernel had buffered, its bound still growing.
    elapsed = time.monotonic() - started
    client.close()
    recording = stack.stored("audio-flood")
    assert len(recording.pcm) <= (300 + elapsed + 1) * 16000 * 2
    assert int(recording.metadata["ahead_drops"]) > 0
