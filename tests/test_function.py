"""The answer function through functions-framework's own test client, and its answer documents as data."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from webhook.answers import VOICEMAIL_PROMPT, CallFacts, twiml, vonage_ncco, voxology_call_flow
from webhook.settings import Settings, SettingsError

SECRET = "s" * 40
FUNCTIONS = Path(__file__).resolve().parents[1] / "functions"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    monkeypatch.setenv("RECORDER_SECRET", SECRET)
    monkeypatch.setenv("RECORDER_URL", "wss://recorder.example")
    monkeypatch.setenv("SAMPLE_RATE", "8000")
    for name in ("GREETING", "FORWARD_TO", "MAX_CALL_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.syspath_prepend(str(FUNCTIONS))
    yield create_app("webhook", str(FUNCTIONS / "main.py")).test_client()


def test_vonage_ncco_golden() -> None:
    call = CallFacts(call_id="aaaa-1", caller="447700900000", callee="447700900001", conversation_id="CON-1")
    ncco = vonage_ncco(
        call,
        recorder_url="wss://rec.example",
        token="T.K.N",
        sample_rate=16000,
        greeting="This call is recorded.",
        event_url="https://fn.example/vonage/event",
    )
    assert ncco == [
        {"action": "talk", "text": "This call is recorded."},
        {
            "action": "connect",
            "eventUrl": ["https://fn.example/vonage/event"],
            "endpoint": [
                {
                    "type": "websocket",
                    "uri": "wss://rec.example/ws/vonage?token=T.K.N",
                    "content-type": "audio/l16;rate=16000",
                    "headers": {
                        "uuid": "aaaa-1",
                        "conversation_uuid": "CON-1",
                        "from": "447700900000",
                        "to": "447700900001",
                    },
                }
            ],
        },
    ]


def test_an_empty_greeting_leaves_out_the_notice() -> None:
    ncco = vonage_ncco(
        CallFacts("c"), recorder_url="ws://r", token="t", sample_rate=8000, greeting="", event_url="http://e"
    )
    assert [action["action"] for action in ncco] == ["connect"]


def _token_in(ncco: list[dict[str, object]]) -> dict[str, object]:
    uri = ncco[-1]["endpoint"][0]["uri"]  # type: ignore[index]
    token = parse_qs(urlsplit(uri).query)["token"][0]
    return jwt.decode(token, SECRET, algorithms=["HS256"], audience="recorder")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_answer_returns_an_ncco_with_a_token_for_this_call(client: FlaskClient, method: str) -> None:
    fields = {"uuid": "call-42", "conversation_uuid": "CON-42", "from": "111", "to": "222"}
    if method == "GET":
        response = client.get("/vonage/answer", query_string=fields, headers={"X-Forwarded-Proto": "https"})
    else:
        response = client.post("/vonage/answer", json=fields, headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    ncco = response.get_json()
    assert ncco[0] == {"action": "talk", "text": "This call is recorded."}
    endpoint = ncco[1]["endpoint"][0]
    assert endpoint["uri"].startswith("wss://recorder.example/ws/vonage?token=")
    assert endpoint["content-type"] == "audio/l16;rate=8000"
    assert endpoint["headers"] == {"uuid": "call-42", "conversation_uuid": "CON-42", "from": "111", "to": "222"}
    assert ncco[1]["eventUrl"] == ["https://localhost/vonage/event"]
    claims = _token_in(ncco)
    assert claims["sub"] == "call-42"
    assert 60 <= claims["exp"] - claims["iat"] <= 600  # type: ignore[operator]


def test_answer_without_uuid_is_a_400_with_a_reason(client: FlaskClient, capsys: pytest.CaptureFixture[str]) -> None:
    response = client.get("/vonage/answer", query_string={"from": "1"})
    assert response.status_code == 400
    assert "uuid" in response.get_json()["error"]
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["severity"] == "WARNING"


def test_event_answers_204_and_logs_one_json_line(client: FlaskClient, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    response = client.post("/vonage/event", json={"status": "answered", "uuid": "call-42"})
    assert response.status_code == 204
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert (entry["severity"], entry["call_id"], entry["event"]["status"]) == ("INFO", "call-42", "answered")


def test_unknown_paths_and_methods(client: FlaskClient) -> None:
    assert client.get("/nowhere").status_code == 404
    assert client.get("/vonage/event").status_code == 405


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "RECORDER_SECRET"),
        ({"RECORDER_SECRET": "short"}, "RECORDER_SECRET"),
        ({"RECORDER_SECRET": SECRET, "RECORDER_URL": "https://recorder"}, "RECORDER_URL"),
        ({"RECORDER_SECRET": SECRET, "SAMPLE_RATE": "44100"}, "SAMPLE_RATE"),
    ],
)
def test_a_missing_or_invalid_setting_names_itself(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_settings_defaults() -> None:
    settings = Settings.from_env({"RECORDER_SECRET": SECRET})
    assert (settings.recorder_url, settings.sample_rate, settings.greeting) == (
        "ws://127.0.0.1:8000",
        16000,
        "This call is recorded.",
    )


def test_twiml_golden_takes_a_message_without_forward_to() -> None:
    call = CallFacts(call_id="CA1", caller="+15550100001", callee="+15550100002")
    document = twiml(
        call,
        recorder_url="wss://rec.example",
        token="T.K.N",
        greeting="Recorded & kept <safe>.",
        forward_to="",
        max_seconds=600,
    )
    assert document == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Recorded &amp; kept &lt;safe&gt;.</Say>'
        '<Start><Stream url="wss://rec.example/ws/twilio" track="both_tracks">'
        '<Parameter name="token" value="T.K.N" /><Parameter name="from" value="+15550100001" />'
        '<Parameter name="to" value="+15550100002" /></Stream></Start>'
        f'<Say>{VOICEMAIL_PROMPT}</Say><Pause length="600" /></Response>'
    )


def test_twiml_dials_forward_to_and_puts_no_query_string_in_the_stream_url() -> None:
    document = twiml(
        CallFacts("CA1"),
        recorder_url="wss://rec.example",
        token="T",
        greeting="",
        forward_to="+15550100003",
        max_seconds=3600,
    )
    root = ET.fromstring(document)
    assert [child.tag for child in root] == ["Start", "Dial"]
    assert root.find("Dial").text == "+15550100003"  # type: ignore[union-attr]
    assert "?" not in root.find("./Start/Stream").get("url")  # type: ignore[union-attr,operator]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_twilio_answer(client: FlaskClient, method: str) -> None:
    fields = {"CallSid": "CA42", "From": "+1555", "To": "+1666"}
    response = (
        client.post("/twilio/answer", data=fields)
        if method == "POST"
        else client.get("/twilio/answer", query_string=fields)
    )
    assert response.status_code == 200 and response.mimetype == "text/xml"
    stream = ET.fromstring(response.data).find("./Start/Stream")
    assert stream is not None and stream.get("url") == "wss://recorder.example/ws/twilio"
    parameters = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    token = jwt.decode(parameters["token"], SECRET, algorithms=["HS256"], audience="recorder")  # type: ignore[arg-type]
    assert token["sub"] == "CA42" and (parameters["from"], parameters["to"]) == ("+1555", "+1666")


def test_twilio_answer_without_callsid_is_a_400(client: FlaskClient) -> None:
    assert client.post("/twilio/answer", data={"From": "+1"}).status_code == 400


def test_voxology_call_flow_is_shaped_like_the_guide() -> None:
    flow = voxology_call_flow(
        CallFacts("1@2", caller="+1714", callee="+1949"),
        recorder_url="wss://rec.example",
        token="T",
        greeting="Recorded.",
        max_seconds=120,
    )
    stream = {"url": "wss://rec.example/ws/voxology", "tracks": ["caller", "transfer"]}
    assert flow == {
        "actions": [
            {
                "type": "STREAM",
                "params": {**stream, "action": "start", "stream_data": {"token": "T", "from": "+1714", "to": "+1949"}},
            },
            {"type": "SAY", "params": {"text": "Recorded."}},
            {"type": "SAY", "params": {"text": VOICEMAIL_PROMPT}},
            {"type": "PAUSE", "params": {"seconds": 120}},
            {"type": "STREAM", "params": {**stream, "action": "stop"}},
            {"type": "HANGUP"},
        ]
    }


def test_voxology_answer(client: FlaskClient) -> None:
    response = client.post("/voxology/answer", json={"call_id": "326065@342", "caller_no": "+1714", "api_no": "+1949"})
    assert response.status_code == 200
    start = response.get_json()["actions"][0]["params"]
    claims = jwt.decode(start["stream_data"]["token"], SECRET, algorithms=["HS256"], audience="recorder")
    assert claims["sub"] == "326065@342"
    assert client.post("/voxology/answer", json={"caller_no": "+1"}).status_code == 400


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"FORWARD_TO": "call my mum"}, "FORWARD_TO"),
        ({"MAX_CALL_SECONDS": "9000"}, "MAX_CALL_SECONDS"),
        ({"MAX_CALL_SECONDS": "ten"}, "MAX_CALL_SECONDS"),
    ],
)
def test_forward_to_and_max_call_seconds_are_validated(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env({"RECORDER_SECRET": SECRET, **env})
