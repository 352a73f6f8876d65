"""The Plivo adapter with golden messages from Plivo's audio streaming reference."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from support.g711_reference import decode

from recorder.closing import ProtocolError
from recorder.events import Audio, CallEnded, CallStarted, Dtmf, Ignored
from recorder.protocols.plivo import PlivoAdapter

PAYLOAD = bytes(range(0, 256, 16)) * 10  # 160 bytes: 20 ms at 8 kHz
EPOCH_MS = 1705312200000
STREAM_ID = "87654321-4321-4321-4321-cba987654321"


def start(**changes: Any) -> str:
    """The reference's start message, with both tracks and mu-law (what our answer asks for)."""
    body = {
        "callId": "12345678-1234-1234-1234-123456789abc",
        "streamId": STREAM_ID,
        "accountId": "MAXXXXXXXXXXXXXXXXXX",
        "tracks": ["inbound", "outbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
        **changes,
    }
    return json.dumps(
        {"event": "start", "sequenceNumber": 1, "start": body, "extra_headers": "from=14155550100;to=14155550199"}
    )


def media(track: str, chunk: int, timestamp_ms: int, payload: bytes = PAYLOAD) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": 42,
            "streamId": STREAM_ID,
            "media": {
                "track": track,
                "timestamp": str(timestamp_ms),
                "chunk": chunk,
                "payload": base64.b64encode(payload).decode(),
            },
            "extra_headers": "from=14155550100;to=14155550199",
        }
    )


def started() -> PlivoAdapter:
    adapter = PlivoAdapter()
    adapter.receive(start())
    return adapter


def test_golden_sequence() -> None:
    adapter = PlivoAdapter()
    assert adapter.receive(start()) == [
        CallStarted(
            provider="plivo",
            call_id="12345678-1234-1234-1234-123456789abc",
            sample_rate=8000,
            tracks=("inbound", "outbound"),
            caller="14155550100",
            callee="14155550199",
            extra={"stream_id": STREAM_ID},
        )
    ]
    assert adapter.receive(media("inbound", 41, EPOCH_MS)) == [Audio("inbound", 0, decode(PAYLOAD))]
    assert adapter.receive(media("inbound", 42, EPOCH_MS + 20)) == [Audio("inbound", 160, decode(PAYLOAD))]
    assert adapter.receive('{"event": "dtmf", "dtmf": {"digit": "5"}}') == [Dtmf("5")]
    assert adapter.receive('{"event": "dtmf", "dtmf": {"digit": ""}}') == [Ignored("dtmf without a digit")]
    assert adapter.receive('{"event": "playedStream", "name": "cp-0"}') == [Ignored("playedStream")]
    assert adapter.receive('{"event": "stop"}') == [CallEnded("stop")]  # undocumented, handled should it come


def test_extra_headers_as_the_xml_reference_writes_them() -> None:
    message = json.loads(start())
    message["extra_headers"] = "from=1415,to=1416"
    [call] = PlivoAdapter().receive(json.dumps(message))
    assert isinstance(call, CallStarted) and (call.caller, call.callee) == ("1415", "1416")


def test_an_outbound_track_that_starts_late_starts_late_in_the_file() -> None:
    adapter = started()
    adapter.receive(media("inbound", 1, EPOCH_MS))
    [late] = adapter.receive(media("outbound", 1, EPOCH_MS + 2500))
    assert isinstance(late, Audio) and late.position == 20000
    [next_one] = adapter.receive(media("outbound", 3, EPOCH_MS + 2540))  # chunk 2 lost
    assert isinstance(next_one, Audio) and next_one.position == 20320


def test_within_a_track_chunks_are_placed_by_number_not_by_jittery_timestamps() -> None:
    adapter = started()
    events = [
        adapter.receive(media("inbound", n, EPOCH_MS + 20 * n + jitter))[0] for n, jitter in ((1, 0), (2, 7), (3, -5))
    ]
    assert [event.position for event in events if isinstance(event, Audio)] == [0, 160, 320]


def test_one_declared_track_is_mono() -> None:
    adapter = PlivoAdapter()
    [call] = adapter.receive(start(tracks=["inbound"]))
    assert isinstance(call, CallStarted) and call.tracks == ("inbound",)
    assert adapter.receive(media("outbound", 1, EPOCH_MS)) == [Ignored("media on undeclared track outbound")]


@pytest.mark.parametrize(
    ("messages", "code", "says"),
    [
        ([media("inbound", 1, EPOCH_MS)], 1002, "media before start"),
        (['{"event": "websocket:connected", "content-type": "audio/l16;rate=16000"}'], 1002, "before start"),
        ([start(mediaFormat={"encoding": "audio/x-l16", "sampleRate": 8000})], 1003, "audio/x-l16"),
        ([start(mediaFormat={"encoding": "audio/x-mulaw", "sampleRate": 16000})], 1003, "16000"),
        ([start(callId="")], 1002, "without callId"),
        ([start(tracks=5)], 1007, "tracks is not a list"),
        ([start(mediaFormat=[1])], 1007, "not an object"),
        ([start(), start()], 1002, "second start"),
        ([start(), media("inbound", 1, EPOCH_MS).replace('"chunk": 1', '"chunk": 1.5')], 1007, "chunk"),
        ([start(), media("inbound", 1, EPOCH_MS).replace(f'"{EPOCH_MS}"', '"-1"')], 1007, "timestamp"),
        (["[" * 5000], 1007, "not valid JSON"),
    ],
)
def test_bad_input(messages: list[str], code: int, says: str) -> None:
    adapter = PlivoAdapter()
    with pytest.raises(ProtocolError) as raised:
        for message in messages:
            adapter.receive(message)
    assert raised.value.code == code and says in raised.value.reason
