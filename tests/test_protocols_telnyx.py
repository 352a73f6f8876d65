"""The Telnyx adapter with golden messages from Telnyx's media streaming guide and AsyncAPI reference."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from support.g711_reference import decode, decode_alaw

from recorder.closing import ProtocolError
from recorder.events import Audio, CallEnded, CallStarted, Dtmf, Ignored
from recorder.protocols.telnyx import TelnyxAdapter

PAYLOAD = bytes(range(0, 256, 16)) * 10  # 160 bytes: 20 ms at 8 kHz
STREAM_ID = "32DE0DEA-53CB-4B21-89A4-9E1819C043BC"


def start(**media_format: Any) -> str:
    """The AsyncAPI reference's start message."""
    return json.dumps(
        {
            "event": "start",
            "sequence_number": "1",
            "start": {
                "user_id": "3E6F995F-85F7-4705-9741-53B116D28237",
                "call_control_id": "v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ",
                "call_session_id": "ff55a038-6f5d-11ef-9692-02420aeffb1f",
                "from": "+13122010094",
                "to": "+13122123456",
                "tags": ["TAG1", "TAG2"],
                "client_state": "aGF2ZSBhIG5pY2UgZGF5ID1d",
                "custom_parameters": {"customer_id": "customer_123"},
                "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1, **media_format},
            },
            "stream_id": STREAM_ID,
        }
    )


def media(track: str, chunk: int, timestamp: int, payload: bytes = PAYLOAD) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequence_number": "4",
            "media": {
                "track": track,
                "chunk": str(chunk),
                "timestamp": str(timestamp),
                "payload": base64.b64encode(payload).decode(),
            },
            "stream_id": STREAM_ID,
        }
    )


def started(**media_format: Any) -> TelnyxAdapter:
    adapter = TelnyxAdapter()
    adapter.receive('{"event": "connected", "version": "1.0.0"}')
    adapter.receive(start(**media_format))
    return adapter


def test_golden_sequence() -> None:
    adapter = TelnyxAdapter()
    assert adapter.receive('{"event": "connected", "version": "1.0.0"}') == [Ignored("connected")]
    assert adapter.receive(start()) == [
        CallStarted(
            provider="telnyx",
            call_id="v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ",
            sample_rate=8000,
            tracks=("inbound", "outbound"),
            caller="+13122010094",
            callee="+13122123456",
            extra={"stream_id": STREAM_ID, "call_session_id": "ff55a038-6f5d-11ef-9692-02420aeffb1f"},
        )
    ]
    assert adapter.receive(media("inbound", 1, 0)) == [Audio("inbound", 0, decode(PAYLOAD))]
    assert adapter.receive(media("outbound", 1, 0)) == [Audio("outbound", 0, decode(PAYLOAD))]
    dtmf = {"event": "dtmf", "stream_id": STREAM_ID, "occurred_at": "2025-06-05T08:54:19.698408Z"}
    assert adapter.receive(json.dumps({**dtmf, "sequence_number": "5", "dtmf": {"digit": "1"}})) == [Dtmf("1")]
    assert adapter.receive(json.dumps({**dtmf, "dtmf": {}})) == [Ignored("dtmf without a digit")]
    mark = {"event": "mark", "stream_id": STREAM_ID, "sequence_number": "5", "mark": {"name": "some_mark_name"}}
    assert adapter.receive(json.dumps(mark)) == [Ignored("mark")]
    error = {"event": "error", "payload": {"code": 100003, "title": "malformed_frame", "detail": "..."}}
    assert adapter.receive(json.dumps(error)) == [Ignored("error malformed_frame")]
    stop = {"event": "stop", "sequence_number": "5", "stop": {"call_control_id": "v2:T02"}, "stream_id": STREAM_ID}
    assert adapter.receive(json.dumps(stop)) == [CallEnded("stop")]


@pytest.mark.parametrize("encoding", ["PCMA", "audio/x-alaw"])
def test_pcma_in_both_spellings_is_a_law(encoding: str) -> None:
    adapter = started(encoding=encoding)
    assert adapter.receive(media("inbound", 1, 0)) == [Audio("inbound", 0, decode_alaw(PAYLOAD))]


def test_the_older_mu_law_spelling() -> None:
    adapter = started(encoding="audio/x-mulaw")
    assert adapter.receive(media("inbound", 1, 0)) == [Audio("inbound", 0, decode(PAYLOAD))]


def test_out_of_order_chunks_go_back_in_their_place_and_a_lost_one_leaves_room() -> None:
    adapter = started()
    positions = [adapter.receive(media("inbound", chunk, (chunk - 1) * 20))[0] for chunk in (1, 3, 2, 5)]
    assert [event.position for event in positions if isinstance(event, Audio)] == [0, 320, 160, 640]


def test_a_track_that_starts_late_is_placed_by_its_timestamp() -> None:
    adapter = started()
    adapter.receive(media("inbound", 1, 40))
    [late] = adapter.receive(media("outbound", 1, 1040))
    assert isinstance(late, Audio) and late.position == 8000


@pytest.mark.parametrize(
    ("messages", "code", "says"),
    [
        ([media("inbound", 1, 0)], 1002, "media before start"),
        (['{"event": "websocket:connected", "content-type": "audio/l16;rate=16000"}'], 1002, "before start"),
        ([start(encoding="G722", sample_rate=16000)], 1003, "G722"),
        ([start(encoding="OPUS", sample_rate=48000)], 1003, "OPUS"),
        ([start(encoding="AMR-WB", sample_rate=16000)], 1003, "AMR-WB"),
        ([start().replace('"call_control_id"', '"id"')], 1002, "without call_control_id"),
        ([start(), start()], 1002, "second start"),
        ([start(), media("inbound", 1, 0).replace('"payload": "', '"payload": "%%')], 1007, "base64"),
        ([start(), media("inbound", 1, 0).replace('"chunk": "1"', '"chunk": "one"')], 1007, "chunk"),
        ([start(), media("inbound", 1, 0).replace('"timestamp": "0"', '"timestamp": Infinity')], 1007, "JSON"),
        ([start().replace('"media_format": {', '"media_format": "x", "y": {')], 1007, "not an object"),
        ([b"\x00\x01"], 1003, "binary"),
    ],
)
def test_bad_input(messages: list[str | bytes], code: int, says: str) -> None:
    adapter = TelnyxAdapter()
    with pytest.raises(ProtocolError) as raised:
        for message in messages:
            adapter.receive(message)
    assert raised.value.code == code and says in raised.value.reason
