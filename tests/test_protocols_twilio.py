"""The Twilio/SignalWire adapter with golden messages from Twilio's Media Streams reference."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from support.g711_reference import decode

from recorder.closing import ProtocolError
from recorder.events import Audio, CallEnded, CallStarted, Dtmf, Ignored
from recorder.protocols.twilio import TwilioAdapter

ULAW = bytes(range(0, 256, 16)) * 10  # 160 bytes: 20 ms at 8 kHz


def twilio_start(**changes: Any) -> str:
    start = {
        "accountSid": "AC0123",
        "streamSid": "MZ0123",
        "callSid": "CA0123",
        "tracks": ["inbound", "outbound"],
        "customParameters": {"token": "T", "from": "+1555", "to": "+1666"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    start.update(changes)
    return json.dumps({"event": "start", "sequenceNumber": "1", "start": start, "streamSid": "MZ0123"})


def twilio_media(track: str, timestamp: str, payload: bytes = ULAW) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": "3",
            "media": {
                "track": track,
                "chunk": "2",
                "timestamp": timestamp,
                "payload": base64.b64encode(payload).decode(),
            },
            "streamSid": "MZ0123",
        }
    )


def test_twilio_golden_sequence() -> None:
    adapter = TwilioAdapter()
    assert adapter.receive('{"event":"connected","protocol":"Call","version":"1.0.0"}') == [Ignored("connected")]
    assert adapter.receive(twilio_start()) == [
        CallStarted(
            provider="twilio",
            call_id="CA0123",
            sample_rate=8000,
            tracks=("inbound", "outbound"),
            token="T",
            caller="+1555",
            callee="+1666",
            extra={"stream_sid": "MZ0123"},
        )
    ]
    assert adapter.receive(twilio_media("outbound", "40")) == [Audio("outbound", 320, decode(ULAW))]
    assert adapter.receive(
        '{"event":"dtmf","streamSid":"MZ","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}'
    ) == [Dtmf("1")]
    assert adapter.receive('{"event":"mark","sequenceNumber":"4","mark":{"name":"x"}}') == [Ignored("mark")]
    assert adapter.receive('{"event":"stop","sequenceNumber":"5","stop":{"callSid":"CA0123"}}') == [CallEnded("stop")]


def test_signalwire_l16_at_16khz_and_numbers_as_numbers() -> None:
    adapter = TwilioAdapter()
    [started] = adapter.receive(
        twilio_start(mediaFormat={"encoding": "audio/x-L16", "sampleRate": 16000}, tracks=["inbound"])
    )
    assert isinstance(started, CallStarted) and (started.sample_rate, started.tracks) == (16000, ("inbound",))
    pcm = bytes(range(64))
    assert adapter.receive(twilio_media("inbound", "20", pcm)) == [Audio("inbound", 320, pcm)]
    assert adapter.receive(twilio_media("outbound", "20", pcm)) == [Ignored("media on undeclared track outbound")]


@pytest.mark.parametrize(
    ("messages", "code", "says"),
    [
        ([twilio_media("inbound", "0")], 1002, "media before start"),
        (['{"event": "websocket:connected", "content-type": "audio/l16;rate=16000"}'], 1002, "before start"),
        ([twilio_start(mediaFormat={"encoding": "audio/x-opus", "sampleRate": 48000})], 1003, "opus"),
        ([twilio_start(callSid="")], 1002, "callSid"),
        ([twilio_start(), twilio_start()], 1002, "second start"),
        ([twilio_start(), twilio_media("inbound", "0").replace('"payload": "', '"payload": "%%')], 1007, "base64"),
        ([twilio_start(), twilio_media("inbound", "soon")], 1007, "timestamp"),
        ([b"\x00\x01"], 1003, "binary"),
        (["{"], 1007, "JSON"),
        # defects.md #14: these raised AttributeError, TypeError, OverflowError or RecursionError (1011).
        ([twilio_start(mediaFormat="x")], 1007, "mediaFormat is not an object"),
        ([twilio_start(tracks=5)], 1007, "tracks is not a list"),
        ([twilio_start(), twilio_media("inbound", "0").replace('"0"', "Infinity")], 1007, "JSON"),
        ([twilio_start(), twilio_media("inbound", "0").replace('"0"', "1e400")], 1007, "timestamp"),
        ([twilio_start(), twilio_media("inbound", "9" * 40)], 1007, "timestamp"),
        ([twilio_start(callSid=7)], 1007, "callSid is not a string"),
        (["[" * 4096], 1007, "not valid JSON"),
    ],
)
def test_twilio_bad_input(messages: list[str | bytes], code: int, says: str) -> None:
    adapter = TwilioAdapter()
    with pytest.raises(ProtocolError) as raised:
        for message in messages:
            adapter.receive(message)
    assert raised.value.code == code and says in raised.value.reason
