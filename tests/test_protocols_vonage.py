"""The Vonage adapter with golden messages from the Voice API WebSockets guide."""

from __future__ import annotations

import json

import pytest

from recorder.closing import ProtocolError
from recorder.events import Audio, CallStarted, Dtmf, Ignored
from recorder.protocols.vonage import VonageAdapter

CONNECTED = json.dumps(
    {
        "event": "websocket:connected",
        "content-type": "audio/l16;rate=16000",
        "uuid": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        "conversation_uuid": "CON-aaaaaaaa",
        "from": "447700900000",
        "to": "447700900001",
    }
)


def started() -> VonageAdapter:
    adapter = VonageAdapter()
    adapter.receive(CONNECTED)
    return adapter


def test_connected_gives_the_call_and_its_format() -> None:
    assert VonageAdapter().receive(CONNECTED) == [
        CallStarted(
            provider="vonage",
            call_id="aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
            sample_rate=16000,
            tracks=("mix",),
            caller="447700900000",
            callee="447700900001",
            extra={"conversation_uuid": "CON-aaaaaaaa"},
        )
    ]


@pytest.mark.parametrize(("content_type", "rate"), [("audio/l16;rate=8000", 8000), ("audio/L16; rate=24000", 24000)])
def test_each_documented_rate(content_type: str, rate: int) -> None:
    message = json.dumps({"event": "websocket:connected", "content-type": content_type, "uuid": "u"})
    [event] = VonageAdapter().receive(message)
    assert isinstance(event, CallStarted) and event.sample_rate == rate


def test_binary_frames_are_audio_positioned_by_the_samples_before_them() -> None:
    adapter = started()
    assert adapter.receive(b"\x01\x00" * 320) == [Audio("mix", 0, b"\x01\x00" * 320)]
    assert adapter.receive(b"\x02\x00" * 320) == [Audio("mix", 320, b"\x02\x00" * 320)]


def test_an_odd_trailing_byte_is_carried_to_the_next_frame() -> None:
    adapter = started()
    assert adapter.receive(b"\x01\x02\x03") == [Audio("mix", 0, b"\x01\x02")]
    assert adapter.receive(b"\x04\x05\x06\x07") == [Audio("mix", 1, b"\x03\x04\x05\x06")]
    assert adapter.receive(b"\x08") == [Audio("mix", 3, b"\x07\x08")]


def test_dtmf_and_other_events() -> None:
    adapter = started()
    assert adapter.receive('{"event":"websocket:dtmf","digit":"5","duration":260}') == [Dtmf("5", 260)]
    assert adapter.receive('{"event":"websocket:notify","payload":{}}') == [Ignored("websocket:notify")]
    # The policy of every adapter (protocols/__init__.py): a key press without a digit is skipped, not fatal.
    assert adapter.receive('{"event":"websocket:dtmf"}') == [Ignored("websocket:dtmf without a digit")]


@pytest.mark.parametrize(
    ("messages", "code", "says"),
    [
        ([b"\x00\x00"], 1002, "audio before websocket:connected"),
        (['{"event":"websocket:dtmf","digit":"1"}'], 1002, "not websocket:connected"),
        (["not json"], 1007, "not valid JSON"),
        (["[1, 2]"], 1007, "not a JSON object"),
        (['{"event":"websocket:connected","content-type":"audio/l16;rate=44100","uuid":"u"}'], 1003, "44100"),
        (['{"event":"websocket:connected","content-type":"audio/l16;rate=16000"}'], 1002, "without uuid"),
        (['{"event":"websocket:connected","content-type":"audio/l16;rate=16000","uuid":7}'], 1007, "not a string"),
        ([CONNECTED, CONNECTED], 1002, "second websocket:connected"),
        # int() refuses digits that str.isdigit() accepts, such as a superscript two.
        (
            ['{"event":"websocket:connected","content-type":"audio/l16;rate=\u00b2","uuid":"u"}'],
            1003,
            "unsupported media format",
        ),
    ],
)
def test_bad_input_is_one_protocol_error_with_a_close_code(messages: list[str | bytes], code: int, says: str) -> None:
    adapter = VonageAdapter()
    with pytest.raises(ProtocolError) as raised:
        for message in messages:
            adapter.receive(message)
    assert raised.value.code == code and says in raised.value.reason
