"""Signed webhooks: Vonage's JWT, Twilio/SignalWire's HMAC, Telnyx's Ed25519 and Plivo's V3 HMAC, against known
vectors and through the function."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient
from functions_framework import create_app

from webhook.signatures import (
    plivo_problem,
    plivo_signature,
    telnyx_problem,
    telnyx_public_key,
    twilio_problem,
    twilio_signature,
    vonage_problem,
)

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


# Tokens are made when each test runs, not when pytest collects it: a suite longer than FRESH_S would otherwise
# see every token here as stale.
@pytest.mark.parametrize(
    ("make_authorization", "problem"),
    [
        (lambda: "", "no signed-webhook token"),
        (lambda: "Bearer not.a.jwt", "invalid signed-webhook token"),
        (lambda: vonage_token(b'{"a":1}', secret="some-other-accounts-signature-secret"), "InvalidSignatureError"),
        (lambda: vonage_token(b'{"a":1}', iat=time.time() - 3600), "not fresh"),
        (lambda: vonage_token(b'{"a":2}'), "payload_hash does not match"),
        (lambda: vonage_token(b'{"a":1}', payload_hash=None), "no payload_hash"),
    ],
)
def test_vonage_forgeries_fail(make_authorization: Callable[[], str], problem: str) -> None:
    authorization = make_authorization()
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
    body = json.dumps({"uuid": "u1", "from": "1", "to": "2"}).encode()
    headers = {"Content-Type": "application/json"}
    assert signed_client.post("/vonage/answer", data=body, headers=headers).status_code == 401
    out = capsys.readouterr().out
    assert "refused an unsigned webhook" in out and VONAGE_SECRET not in out
    signed = signed_client.post("/vonage/answer", data=body, headers={**headers, "Authorization": vonage_token(body)})
    assert signed.status_code == 200 and signed.get_json()[-1]["action"] == "connect"

    event = json.dumps({"status": "completed", "uuid": "u1"}).encode()
    headers = {"Content-Type": "application/json"}
    assert signed_client.post("/vonage/event", data=event, headers=headers).status_code == 401
    headers["Authorization"] = vonage_token(event)
    assert signed_client.post("/vonage/event", data=event, headers=headers).status_code == 204


def test_signed_vonage_answers_must_be_posts_so_that_a_get_cannot_be_replayed(
    signed_client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """defects.md #11: a GET's JWT covers an empty body, so one observed Authorization header opened any call."""
    authorization = {"Authorization": vonage_token(b"")}  # genuine, for a GET
    for uuid in ("u1", "any-other-call"):
        replayed = signed_client.get("/vonage/answer", query_string={"uuid": uuid}, headers=authorization)
        assert replayed.status_code == 405 and "token" not in replayed.get_data(as_text=True)
    assert "must use POST" in capsys.readouterr().out


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


# Ed25519 is deterministic (RFC 8032 section 5.1.6): this key and message always give this signature. Made with
# cryptography's Ed25519PrivateKey.from_private_bytes(bytes(range(32))).sign(b"1700000000|" + TELNYX_BODY).
TELNYX_PRIVATE = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
TELNYX_PUBLIC = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
TELNYX_BODY = b"CallSid=v3%3AT02llQx&From=%2B13122010094&To=%2B13122123456&AccountSid=acc1"
TELNYX_SIGNATURE = "p0Iz4B89V6ua0/Wp6dcw654bazyk8IqLSheO6b5dY1nnnFm5Ps36f6AvarSnIpumEasqMkJu8P0Mu7RT+OsfAA=="


def test_telnyx_vector() -> None:
    key = telnyx_public_key(TELNYX_PUBLIC)
    assert telnyx_problem(TELNYX_SIGNATURE, "1700000000", TELNYX_BODY, key, now=1_700_000_100) is None


@pytest.mark.parametrize(
    ("signature", "timestamp", "body", "now", "problem"),
    [
        ("", "1700000000", TELNYX_BODY, 1_700_000_000, "no telnyx-signature-ed25519"),
        (TELNYX_SIGNATURE, "1700000000", TELNYX_BODY + b"&x=1", 1_700_000_000, "does not match"),
        (TELNYX_SIGNATURE, "1700000001", TELNYX_BODY, 1_700_000_000, "does not match"),
        (TELNYX_SIGNATURE, "1700000000", TELNYX_BODY, 1_700_000_301, "not fresh"),
        (TELNYX_SIGNATURE, "soon", TELNYX_BODY, 1_700_000_000, "not Unix seconds"),
        ("%%", "1700000000", TELNYX_BODY, 1_700_000_000, "does not match"),
    ],
)
def test_telnyx_forgeries_fail(signature: str, timestamp: str, body: bytes, now: float, problem: str) -> None:
    assert problem in str(telnyx_problem(signature, timestamp, body, telnyx_public_key(TELNYX_PUBLIC), now=now))


# Made with plivo-python's own plivo/utils/signature_v3.py (commit a0cd323: construct_post_url, construct_get_url,
# get_signature_v3) for this token, nonce, URL and form; the SDK's own tests have no V3 vector.
PLIVO_TOKEN = "MAXXXXXXXXXXXXXXXXXX-auth-token-for-tests"
PLIVO_NONCE = "05429567804466091622"
PLIVO_URL = "https://fn.example/plivo/answer"
PLIVO_FORM = {
    "CallUUID": "a1b2c3d4-0000-4000-8000-000000000001",
    "From": "+14155550100",
    "To": "+14155550199",
    "Direction": "inbound",
    "CallStatus": "in-progress",
}


@pytest.mark.parametrize(
    ("method", "url", "params", "signature"),
    [
        ("POST", PLIVO_URL, PLIVO_FORM, "zhmlQeJhOH0LWAd8FvdVtLRnfVx8toTq0TVzdweTrrw="),
        ("POST", PLIVO_URL + "?x=1", PLIVO_FORM, "HLNxR7efwU3T3qlDOsqVkUtbt8oOZC7hRBhoQ14hy3Y="),
        ("GET", PLIVO_URL + "?x=1", PLIVO_FORM, "SnyvZF+WG2y9JdB4gU3LARw7mTC0CUnjKW29eKsPmaE="),
        ("GET", PLIVO_URL + "?" + urlencode(PLIVO_FORM), {}, "8gb3X+QiaXCu+nkZZeDGD3EzK0CKt0VDT4trtMgqAgQ="),
    ],
)
def test_plivo_v3_vectors_from_plivo_python(method: str, url: str, params: dict[str, str], signature: str) -> None:
    assert plivo_signature(PLIVO_TOKEN, method, url, params.items(), PLIVO_NONCE) == signature
    assert plivo_problem(f"other=,{signature}", PLIVO_NONCE, PLIVO_TOKEN, method, url, params.items()) is None


@pytest.mark.parametrize(
    ("signatures", "nonce", "url", "form", "problem"),
    [
        ("", PLIVO_NONCE, PLIVO_URL, PLIVO_FORM, "no X-Plivo-Signature-V3"),
        ("zhmlQeJhOH0LWAd8FvdVtLRnfVx8toTq0TVzdweTrrw=", "1", PLIVO_URL, PLIVO_FORM, "does not match"),
        ("zhmlQeJhOH0LWAd8FvdVtLRnfVx8toTq0TVzdweTrrw=", PLIVO_NONCE, PLIVO_URL + "x", PLIVO_FORM, "does not match"),
        (
            "zhmlQeJhOH0LWAd8FvdVtLRnfVx8toTq0TVzdweTrrw=",
            PLIVO_NONCE,
            PLIVO_URL,
            {**PLIVO_FORM, "CallUUID": "another-call"},
            "does not match",
        ),
    ],
)
def test_plivo_forgeries_fail(signatures: str, nonce: str, url: str, form: dict[str, str], problem: str) -> None:
    assert problem in str(plivo_problem(signatures, nonce, PLIVO_TOKEN, "POST", url, form.items()))


@pytest.fixture
def telnyx_plivo_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    monkeypatch.setenv("RECORDER_SECRET", "r" * 40)
    monkeypatch.setenv("TELNYX_PUBLIC_KEY", TELNYX_PUBLIC)
    monkeypatch.setenv("PLIVO_AUTH_TOKEN", PLIVO_TOKEN)
    monkeypatch.setenv("ALLOW_UNSIGNED", "voxology")
    for name in ("VONAGE_SIGNATURE_SECRET", "TWILIO_AUTH_TOKEN", "SIGNALWIRE_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.syspath_prepend(str(FUNCTIONS))
    yield create_app("webhook", str(FUNCTIONS / "main.py")).test_client()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_the_function_answers_signed_telnyx_webhooks_only(telnyx_plivo_client: FlaskClient) -> None:
    client = telnyx_plivo_client
    timestamp = str(int(time.time()))
    signature = base64.b64encode(TELNYX_PRIVATE.sign(f"{timestamp}|".encode() + TELNYX_BODY)).decode()
    signed = {**FORM, "telnyx-signature-ed25519": signature, "telnyx-timestamp": timestamp}
    answered = client.post("/telnyx/answer", data=TELNYX_BODY, headers=signed)
    assert answered.status_code == 200 and b"/ws/telnyx/" in answered.data
    forged = client.post("/telnyx/answer", data=TELNYX_BODY.replace(b"acc1", b"acc2"), headers=signed)
    assert forged.status_code == 401 and b"/ws/" not in forged.data
    assert client.post("/telnyx/answer", data=TELNYX_BODY, headers=FORM).status_code == 401
    # Its signature covers the body only: a signed GET would be replayable with any CallSid.
    assert client.get("/telnyx/answer", query_string={"CallSid": "x"}, headers=signed).status_code == 405


def test_the_function_answers_signed_plivo_webhooks_only(telnyx_plivo_client: FlaskClient) -> None:
    client = telnyx_plivo_client
    url = "https://fn.example/plivo/answer"
    proxied = {"X-Forwarded-Proto": "https", "Host": "fn.example"}
    nonce = "1234567890"
    signature = plivo_signature(PLIVO_TOKEN, "POST", url, PLIVO_FORM.items(), nonce)
    signed = {**proxied, "X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}
    answered = client.post("/plivo/answer", data=PLIVO_FORM, headers=signed)
    assert answered.status_code == 200 and b"/ws/plivo/" in answered.data
    forged = client.post("/plivo/answer", data={**PLIVO_FORM, "CallUUID": "mine"}, headers=signed)
    assert forged.status_code == 401
    assert client.post("/plivo/answer", data=PLIVO_FORM, headers=proxied).status_code == 401
    # A GET's signature covers its query, so Plivo may answer by GET.
    get_signature = plivo_signature(PLIVO_TOKEN, "GET", f"{url}?{urlencode(PLIVO_FORM)}", [], nonce)
    by_get = client.get(
        "/plivo/answer",
        query_string=PLIVO_FORM,
        headers={**proxied, "X-Plivo-Signature-V3": get_signature, "X-Plivo-Signature-V3-Nonce": nonce},
    )
    assert by_get.status_code == 200


def test_with_signing_on_a_route_without_a_key_refuses(
    signed_client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """defects.md #3: an unsigned route must not hand out tokens while the others are signed. Vonage and Twilio
    are signed here; Voxology signs nothing, and ALLOW_UNSIGNED does not name it."""
    refused = signed_client.post("/voxology/answer", json={"call_id": "CAfff", "caller_no": "+1999"})
    assert refused.status_code == 401 and "token" not in refused.get_data(as_text=True)
    assert "ALLOW_UNSIGNED=voxology" in capsys.readouterr().out


def test_allow_unsigned_answers_the_routes_it_names_only(telnyx_plivo_client: FlaskClient) -> None:
    """Telnyx and Plivo are signed here, with ALLOW_UNSIGNED=voxology; Twilio has no key and is not named."""
    assert telnyx_plivo_client.post("/voxology/answer", json={"call_id": "CAfff"}).status_code == 200
    assert telnyx_plivo_client.post("/twilio/answer", data={"CallSid": "CA1"}).status_code == 401
