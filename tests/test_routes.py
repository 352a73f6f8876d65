"""The answer function's route table: every provider's answer webhook, by method, with its token's stream path."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from webhook.routes import ANSWERS, URLS

SECRET = "s" * 40
FUNCTIONS = Path(__file__).resolve().parents[1] / "functions"
# provider -> (its answer fields, how it sends them when it POSTs: form or JSON)
WEBHOOKS = {
    "vonage": ({"uuid": "c-vonage", "from": "1", "to": "2"}, "json"),
    "twilio": ({"CallSid": "c-twilio", "From": "+1", "To": "+2"}, "form"),
    "voxology": ({"call_id": "c-voxology", "caller_no": "+1", "api_no": "+2"}, "json"),
    "telnyx": ({"CallSid": "c-telnyx", "From": "+1", "To": "+2"}, "form"),
    "plivo": ({"CallUUID": "c-plivo", "From": "+1", "To": "+2"}, "form"),
    "jambonz": ({"call_sid": "c-jambonz", "from": "+1", "to": "+2"}, "json"),
}
TOKEN = re.compile(rb"eyJ[A-Za-z0-9_.-]+")


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    monkeypatch.setenv("RECORDER_SECRET", SECRET)
    monkeypatch.setenv("RECORDER_URL", "wss://recorder.example")
    for name in ("VONAGE_SIGNATURE_SECRET", "TWILIO_AUTH_TOKEN", "SIGNALWIRE_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name in ("TELNYX_PUBLIC_KEY", "PLIVO_AUTH_TOKEN", "ALLOW_UNSIGNED", "TELNYX_CODEC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.syspath_prepend(str(FUNCTIONS))
    yield create_app("webhook", str(FUNCTIONS / "main.py")).test_client()


def test_every_answer_route_has_a_webhook_here() -> None:
    assert set(WEBHOOKS) == set(ANSWERS) == {rule.endpoint for rule in URLS.iter_rules()} - {"vonage-event"}


@pytest.mark.parametrize("provider", WEBHOOKS)
def test_each_answer_issues_a_token_for_its_call_and_its_own_stream_path(client: FlaskClient, provider: str) -> None:
    fields, body = WEBHOOKS[provider]
    response = client.post(f"/{provider}/answer", **({"json": fields} if body == "json" else {"data": fields}))
    assert response.status_code == 200
    [token] = TOKEN.findall(response.data)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="recorder")
    assert (claims["sub"], claims["prov"]) == (f"c-{provider}", provider)
    assert f"wss://recorder.example/ws/{provider}".encode() in response.data


@pytest.mark.parametrize("provider", ["vonage", "twilio", "telnyx", "plivo"])
def test_unsigned_answers_also_come_by_get(client: FlaskClient, provider: str) -> None:
    fields, _ = WEBHOOKS[provider]
    response = client.get(f"/{provider}/answer/", query_string=fields)  # a trailing slash is the same path
    assert response.status_code == 200 and TOKEN.search(response.data)


@pytest.mark.parametrize("provider", WEBHOOKS)
def test_an_answer_without_its_call_id_is_a_400_naming_the_field(client: FlaskClient, provider: str) -> None:
    fields, body = WEBHOOKS[provider]
    id_field = ANSWERS[provider].call_id
    rest = {key: value for key, value in fields.items() if key != id_field}
    response = client.post(f"/{provider}/answer", **({"json": rest} if body == "json" else {"data": rest}))
    assert response.status_code == 400 and id_field in response.get_json()["error"]


def test_unknown_paths_and_methods(client: FlaskClient) -> None:
    missing = client.get("/skype/answer")
    assert missing.status_code == 404 and "/plivo/answer" in missing.get_json()["error"]
    assert client.get("/voxology/answer").status_code == 405
    assert client.delete("/telnyx/answer").status_code == 405
