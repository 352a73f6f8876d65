"""jambonz `listen`: the metadata frame (docs: call attributes plus sampleRate and mixType), interleaved stereo
L16, and dtmf text frames."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import jwt
import pytest
from functions_framework import create_app

from callsim.jambonz import listen_verb
from recorder.closing import ProtocolError
from recorder.events import Audio, CallStarted, Dtmf, Ignored
from recorder.protocols.jambonz import JambonzAdapter
from webhook.answers import VOICEMAIL_PROMPT, CallFacts, jambonz_verbs

SECRET = "s" * 40
FUNCTIONS = Path(__file__).resolve().parents[1] / "functions"

METADATA = {
    "callSid": "b3a6a0f4-0e6d-4b2e-9d1f-3c5e9f0a1b2c",
    "direction": "inbound",
    "from": "+15550100001",
    "to": "+15550100002",
    "callId": "abc@10.0.0.1",
    "accountSid": "acct",
    "sampleRate": 16000,
    "mixType": "stereo",
}


def test_metadata_then_interleaved_stereo_split_caller_left() -> None:
    adapter = JambonzAdapter()
    assert adapter.receive(json.dumps(METADATA)) == [
        CallStarted(
            provider="jambonz",
            call_id=METADATA["callSid"],
            sample_rate=16000,
            tracks=("caller", "callee"),
            caller="+15550100001",
            callee="+15550100002",
            extra={"direction": "inbound", "accountSid": "acct", "callId": "abc@10.0.0.1"},
        )
    ]
    frames = struct.pack("<6h", 1, -1, 2, -2, 3, -3)
    assert adapter.receive(frames[:10]) == [
        Audio("caller", 0, struct.pack("<2h", 1, 2)),
        Audio("callee", 0, struct.pack("<2h", -1, -2)),
    ]
    assert adapter.receive(frames[10:]) == [
        Audio("caller", 2, struct.pack("<h", 3)),
        Audio("callee", 2, struct.pack("<h", -3)),
    ]


def test_dtmf_and_other_text_frames() -> None:
    adapter = JambonzAdapter()
    adapter.receive(json.dumps({**METADATA, "call_sid": "x"}))
    assert adapter.receive(json.dumps({"event": "dtmf", "dtmf": "2", "duration": "1600"})) == [Dtmf("2")]
    assert adapter.receive(json.dumps({"event": "dtmf"})) == [Ignored("dtmf without a digit")]
    assert adapter.receive(json.dumps({"type": "mark"})) == [Ignored("mark")]


def test_mono_and_the_webhook_spelling_of_the_call_id() -> None:
    adapter = JambonzAdapter()
    [started] = adapter.receive(json.dumps({"call_sid": "cs-1", "sampleRate": 8000, "mixType": "mono"}))
    assert isinstance(started, CallStarted) and (started.call_id, started.tracks) == ("cs-1", ("caller",))
    assert adapter.receive(b"\x01\x00\x02") == [Audio("caller", 0, b"\x01\x00")]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (b"\x00\x00", 1002),
        (json.dumps({"sampleRate": 8000}), 1002),
        (json.dumps({**METADATA, "sampleRate": 11025}), 1003),
        (json.dumps({**METADATA, "mixType": "quad"}), 1003),
        (json.dumps({**METADATA, "callSid": 5}), 1007),
    ],
)
def test_bad_streams_are_refused(message: str | bytes, code: int) -> None:
    with pytest.raises(ProtocolError) as raised:
        JambonzAdapter().receive(message)
    assert raised.value.code == code


def verbs(forward_to: str = "", greeting: str = "This call is recorded.") -> list[dict[str, Any]]:
    call = CallFacts("cs-1", caller="+15550100001", callee="+15550100002")
    return jambonz_verbs(
        call,
        recorder_url="wss://rec.example",
        token="TOKEN",
        sample_rate=16000,
        greeting=greeting,
        forward_to=forward_to,
        max_seconds=3600,
    )


LISTEN = {
    "url": "wss://rec.example/ws/jambonz/TOKEN",
    "mixType": "stereo",
    "sampleRate": 16000,
    "passDtmf": True,
    "metadata": {"from": "+15550100001", "to": "+15550100002"},
}


def test_standalone_listen_after_the_notice_and_the_voicemail_prompt() -> None:
    assert verbs() == [
        {"verb": "say", "text": "This call is recorded."},
        {"verb": "say", "text": VOICEMAIL_PROMPT},
        {"verb": "listen", **LISTEN, "maxLength": 3600},
    ]


def test_listen_nested_in_dial_when_forwarding() -> None:
    assert verbs(forward_to="+15550100099", greeting="") == [
        {
            "verb": "dial",
            "callerId": "+15550100001",
            "target": [{"type": "phone", "number": "+15550100099"}],
            "timeLimit": 3600,
            "listen": LISTEN,
        }
    ]


def test_the_answer_webhook_puts_this_calls_token_in_the_listen_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECORDER_SECRET", SECRET)
    monkeypatch.setenv("RECORDER_URL", "wss://recorder.example")
    for name in ("GREETING", "FORWARD_TO", "MAX_CALL_SECONDS", "SAMPLE_RATE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.syspath_prepend(str(FUNCTIONS))
    client = create_app("webhook", str(FUNCTIONS / "main.py")).test_client()
    response = client.post("/jambonz/answer", json={"call_sid": "cs-9", "from": "+1555", "to": "+1666"})
    assert response.status_code == 200
    listen = listen_verb(response.get_json())
    prefix = "wss://recorder.example/ws/jambonz/"
    assert listen["url"].startswith(prefix) and listen["sampleRate"] == 16000
    claims = jwt.decode(listen["url"][len(prefix) :], SECRET, algorithms=["HS256"], audience="recorder")
    assert (claims["sub"], claims["prov"]) == ("cs-9", "jambonz")
    assert client.post("/jambonz/answer", json={"from": "+1"}).status_code == 400
    assert client.get("/jambonz/answer").status_code == 405
