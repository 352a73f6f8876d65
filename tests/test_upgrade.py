"""The WebSocket upgrade: what the recorder refuses before the 101, where it takes the token from, the Twilio
signature, and the subprotocol echo, against the real recorder under gunicorn."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from support.rawws import RawClient
from support.stack import Stack, run, running_stack, wait_for
from websockets.asyncio.client import connect

import devstack
from callsim import vonage
from devstack import LOCAL_SECRET, free_port
from recorder.worker import twilio_signature
from webhook.tokens import issue_token

FRAME = b"\x01\x00\x02\x00" * 160
TWILIO_KEY = "twilio-auth-token-for-tests"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # The function shares the environment: with Twilio's token set it would refuse the unsigned Vonage answer
    # webhooks these tests fetch their tokens from, unless told to answer them (ALLOW_UNSIGNED).
    env = {"TWILIO_AUTH_TOKEN": TWILIO_KEY, "ALLOW_UNSIGNED": "vonage"}
    with running_stack(tmp_path_factory.mktemp("upgrade"), None, **env) as running:
        yield running


def vonage_endpoint(stack: Stack, call_id: str) -> tuple[dict[str, object], str]:
    endpoint = vonage.websocket_endpoint(vonage.fetch_ncco(stack.answer_url(), call_id, "1", "2"))
    token = parse_qs(urlsplit(str(endpoint["uri"])).query)["token"][0]
    return endpoint, token


def connected(endpoint: dict[str, object]) -> str:
    return json.dumps({"event": "websocket:connected", "content-type": endpoint["content-type"], **endpoint["headers"]})  # type: ignore[dict-item]


def upgrade(stack: Stack, path: str, headers: dict[str, str] | None = None) -> RawClient:
    return RawClient(stack.recorder_port, path, headers=headers)


def refusals(stack: Stack, words: str) -> int:
    return sum(1 for e in stack.logs() if e["severity"] == "WARNING" and words in str(e["message"]))


@pytest.mark.parametrize(
    ("case", "path", "status", "words"),
    [
        ("unknown provider", "/ws/skype", 404, "404 Not Found: no stream path here"),
        ("not a stream path", "/ws", 404, "404 Not Found: no stream path here"),
        ("tampered token", "/ws/vonage?token=eyJhbGciOiJIUzI1NiJ9.e30.AAAA", 401, "401 Unauthorized: invalid token"),
        ("expired token", "/ws/vonage?token=" + issue_token(LOCAL_SECRET, "c", "vonage", now=0), 401, "token expired"),
        (
            "another provider's token",
            "/ws/vonage/{a fresh voxology token}",  # made when the test runs: the suite may outlast its 5 minutes
            403,
            "another provider",
        ),
        ("bearer of another secret", "/ws/twilio", 401, "invalid token (InvalidSignatureError)"),
    ],
    ids=lambda value: value if isinstance(value, str) and not value.startswith("/") else "",
)
def test_refused_before_the_101_with_a_status_and_one_log_line(
    stack: Stack, case: str, path: str, status: int, words: str
) -> None:
    before = refusals(stack, words)
    headers = {"Authorization": "Bearer " + issue_token("x" * 40, "c", "twilio")} if "bearer" in case else None
    path = path.replace("{a fresh voxology token}", issue_token(LOCAL_SECRET, "c", "voxology"))
    client = upgrade(stack, path, headers)
    try:
        assert client.status == status
        assert client.read_to_eof() < 200  # a short answer, then the connection is closed
    finally:
        client.close()
    wait_for(lambda: refusals(stack, words) == before + 1, what=f"one log line saying {words!r}")


def test_the_token_may_be_the_last_path_segment(stack: Stack) -> None:
    """Telnyx's stream URL carries neither a query nor parameters: /ws/<provider>/<token>."""
    endpoint, token = vonage_endpoint(stack, "token-in-path")
    client = upgrade(stack, f"/ws/vonage/{token}")
    assert client.status == 101
    client.text(connected(endpoint))
    client.binary(FRAME)
    client.send_frame(0x8, struct.pack("!H", 1000))
    assert client.close_code() == 1000
    client.close()
    assert stack.stored("token-in-path").pcm == FRAME


def stream_url(stack: Stack, call_id: str) -> tuple[str, dict[str, str]]:
    """What the answer document would give (the function, signing its webhooks with the same auth token here,
    would want a signed request: not this test's subject)."""
    return "/ws/twilio", {"token": issue_token(LOCAL_SECRET, call_id, "twilio")}


def signed(stack: Stack, path: str, key: str = TWILIO_KEY) -> dict[str, str]:
    # Written from Twilio's description, not with the recorder's helper: HMAC-SHA1 of the URL, in base64.
    url = f"ws://127.0.0.1:{stack.recorder_port}{path}"
    return {
        "X-Twilio-Signature": base64.b64encode(hmac.new(key.encode(), url.encode(), hashlib.sha1).digest()).decode()
    }


def test_twilio_signature_matches_twilios_published_example() -> None:
    # twilio.com/docs/usage/security: the URL, then each POST parameter's name and value, sorted by name.
    signed_text = "https://mycompany.com/myapp.php?foo=1&bar=2" + "".join(
        name + value
        for name, value in sorted(
            {
                "CallSid": "CA1234567890ABCDE",
                "Caller": "+14158675309",
                "Digits": "1234",
                "From": "+14158675309",
                "To": "+18005551212",
            }.items()
        )
    )
    assert twilio_signature("12345", signed_text) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def twilio_call(client: RawClient, call_id: str, parameters: dict[str, str]) -> None:
    start = {
        "callSid": call_id,
        "tracks": ["inbound"],
        "customParameters": parameters,
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
    }
    client.text(json.dumps({"event": "start", "start": start}))
    chunk = base64.b64encode(b"\xff" * 160).decode()
    for n in range(5):
        client.text(
            json.dumps({"event": "media", "media": {"track": "inbound", "timestamp": str(n * 20), "payload": chunk}})
        )
    client.text(json.dumps({"event": "stop"}))
    assert client.close_code() == 1000


def test_a_twilio_upgrade_signed_with_the_auth_token_is_recorded(stack: Stack) -> None:
    path, parameters = stream_url(stack, "CA-signed")
    client = upgrade(stack, path, signed(stack, path))
    assert client.status == 101
    twilio_call(client, "CA-signed", parameters)
    client.close()
    assert len(stack.stored("CA-signed").pcm) == 5 * 320


@pytest.mark.parametrize(
    ("case", "words"),
    [("unsigned", "no X-Twilio-Signature on the upgrade"), ("wrong key", "X-Twilio-Signature does not match")],
)
def test_a_twilio_upgrade_without_a_valid_signature_is_refused(stack: Stack, case: str, words: str) -> None:
    path, _ = stream_url(stack, f"CA-{case.replace(' ', '-')}")
    before = refusals(stack, words)
    client = upgrade(stack, path, signed(stack, path, key="another-key") if case == "wrong key" else None)
    assert client.status == 401
    client.close()
    wait_for(lambda: refusals(stack, words) == before + 1, what=f"one log line saying {words!r}")


def test_allow_unsigned_upgrades_lets_a_missing_signature_pass_but_never_a_wrong_one(tmp_path: Path) -> None:
    env = {"TWILIO_AUTH_TOKEN": TWILIO_KEY, "ALLOW_UNSIGNED_UPGRADES": "true", "ALLOW_UNSIGNED": "vonage"}
    with running_stack(tmp_path, None, **env) as lenient:
        path, parameters = stream_url(lenient, "CA-unsigned-ok")
        wrong = upgrade(lenient, path, signed(lenient, path, key="another-key"))
        assert wrong.status == 401
        wrong.close()
        client = upgrade(lenient, path)
        assert client.status == 101
        twilio_call(client, "CA-unsigned-ok", parameters)
        client.close()
        assert len(lenient.stored("CA-unsigned-ok").pcm) == 5 * 320


def test_the_101_echoes_a_subprotocol_the_providers_upgrade_offers(tmp_path: Path) -> None:
    """jambonz asks for `audio.jambonz.org` and needs it echoed (RFC 6455 4.2.2). No provider here offers one yet,
    so this recorder's table gives Vonage's path one (tests/subprotocol_app.py)."""
    port = free_port()
    env = devstack.stack_env(0, port, {"SPOOL_DIR": str(tmp_path / "spool"), "RECORDINGS_DIR": str(tmp_path / "rec")})
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    command = [*devstack.recorder_command()[:-1], "subprotocol_app:create_app_offering_a_subprotocol()"]
    with (tmp_path / "recorder.log").open("wb") as log:
        recorder = subprocess.Popen(command, cwd=devstack.ROOT / "recorder", env=env, stdout=log, stderr=log)
        try:
            devstack.wait_until_listening(port, recorder)

            async def ask(subprotocols: list[str]) -> str | None:
                async with connect(f"ws://127.0.0.1:{port}/ws/vonage", subprotocols=subprotocols) as ws:  # type: ignore[arg-type]
                    return ws.subprotocol

            assert run(ask(["something-else", "audio.jambonz.org"])) == "audio.jambonz.org"
        finally:
            devstack.stop([recorder])
