"""Signed webhooks: Vonage's JWT and Twilio/SignalWire's HMAC, against known vectors and through the function."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import jwt
import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from answerer.signatures import twilio_problem, twilio_signature, vonage_problem

FUNCTIONS = Path(__file__).resolve().parents[1] / "functions"
VONAGE_SECRET = "vonage-signature-secret-for-tests"

# Twilio's documented example (twilio.com/docs/usage/security; the twilio-* libraries' tests).
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
TWILIO_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def vonage_token(body: bytes, secret: str = VONAGE_SECRET, iat: float | None = None, **claims: object) -> str:
    payload = {
        "iat": int(time.time() if iat is None else iat),
        "jti": "j1",
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
        "api_key": "abc123",
        **claims,
    }
    return "Bearer " + jwt.encode(payload, secret, algorithm="HS256")


def test_twilio_documented_vector() -> None:
    assert twilio_signature("12345", TWILIO_URL, TWILIO_PARAMS.items()) == TWILIO_SIGNATURE
    keys = {"X-Twilio-Signature": "12345"}
    assert twilio_problem({"X-Twilio-Signature": TWILIO_SIGNATURE}, TWILIO_URL, TWILIO_PARAMS.items(), keys) is None


@pytest.mark.parametrize(
    ("url", "params", "signature", "problem"),
    [
        (TWILIO_URL, {**TWILIO_PARAMS, "Digits": "9999"}, TWILIO_SIGNATURE, "does not match"),
        (TWILIO_URL + "&extra=1", TWILIO_PARAMS, TWILIO_SIGNATURE, "does not match"),
        (TWILIO_URL.replace("https", "http"), TWILIO_PARAMS, TWILIO_SIGNATURE, "does not match"),
        (TWILIO_URL, TWILIO_PARAMS, "", "no X-Twilio-Signature header"),
    ],
)
def test_twilio_tampering_fails(url: str, params: dict[str, str], signature: str, problem: str) -> None:
    headers = {"X-Twilio-Signature": signature}
    assert problem in str(twilio_problem(headers, url, params.items(), {"X-Twilio-Signature": "12345"}))


def test_vonage_genuine_webhooks_pass() -> None:
    body = json.dumps({"status": "answered", "uuid": "u1"}).encode()
    assert vonage_problem(vonage_token(body), body, VONAGE_SECRET) is None
    assert vonage_problem(vonage_token(b""), b"", VONAGE_SECRET) is None  # a GET answer webhook
    spaced = b'{"status": "answered"}'
    compact_hash = hashlib.sha256(b'{"status":"answered"}').hexdigest()
    assert vonage_problem(vonage_token(spaced, payload_hash=compact_hash), spaced, VONAGE_SECRET) is None


@pytest.mark.parametrize(
    ("authorization", "problem"),
    [
        ("", "no signed-webhook token"),
        ("Bearer not.a.jwt", "invalid signed-webhook token"),
        (vonage_token(b'{"a":1}', secret="some-other-accounts-signature-secret"), "InvalidSignatureError"),
        (vonage_token(b'{"a":1}', iat=time.time() - 3600), "not fresh"),
        (vonage_token(b'{"a":2}'), "payload_hash does not match"),
        (vonage_token(b'{"a":1}', payload_hash=None), "no payload_hash"),
    ],
)
def test_vonage_forgeries_fail(authorization: str, problem: str) -> None:
    assert problem in str(vonage_problem(authorization, b'{"a":1}', VONAGE_SECRET))


@pytest.fixture
def signed_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    monkeypatch.setenv("RECORDER_SECRET", "r" * 40)
    monkeypatch.setenv("VONAGE_SIGNATURE_SECRET", VONAGE_SECRET)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "12345")
    monkeypatch.syspath_prepend(str(FUNCTIONS))
    yield create_app("webhook", str(FUNCTIONS / "main.py")).test_client()


def test_the_function_refuses_unsigned_vonage_webhooks(
    signed_client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    query = {"uuid": "u1", "from": "1", "to": "2"}
    assert signed_client.get("/vonage/answer", query_string=query).status_code == 401
    out = capsys.readouterr().out
    assert "refused an unsigned webhook" in out and VONAGE_SECRET not in out
    signed = signed_client.get("/vonage/answer", query_string=query, headers={"Authorization": vonage_token(b"")})
    assert signed.status_code == 200 and signed.get_json()[-1]["action"] == "connect"

    event = json.dumps({"status": "completed", "uuid": "u1"}).encode()
    headers = {"Content-Type": "application/json"}
    assert signed_client.post("/vonage/event", data=event, headers=headers).status_code == 401
    headers["Authorization"] = vonage_token(event)
    assert signed_client.post("/vonage/event", data=event, headers=headers).status_code == 204


def test_the_function_refuses_unsigned_twilio_webhooks(signed_client: FlaskClient) -> None:
    form = {"CallSid": "CA42", "From": "+1555", "To": "+1666"}
    base = "https://fn.example"
    headers = {"X-Forwarded-Proto": "https", "Host": "fn.example"}
    unsigned = signed_client.post("/twilio/answer", data=form, headers=headers)
    assert unsigned.status_code == 401
    signature = twilio_signature("12345", f"{base}/twilio/answer", form.items())
    signed = signed_client.post(
        "/twilio/answer",
        data=urlencode(form),
        headers={**headers, "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert signed.status_code == 200 and b"<Stream" in signed.data
    wrong_url = twilio_signature("12345", "https://elsewhere.example/twilio/answer", form.items())
    assert (
        signed_client.post(
            "/twilio/answer", data=form, headers={**headers, "X-Twilio-Signature": wrong_url}
        ).status_code
        == 401
    )
