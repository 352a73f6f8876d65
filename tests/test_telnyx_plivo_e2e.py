"""Telnyx and Plivo calls end to end through the real stack: both tracks placed by the provider's chunks and
clocks, compared sample for sample with an independent G.711 decode; tokens in the stream url's path; signed
and forged answer webhooks."""

from __future__ import annotations

import array
import base64
import dataclasses
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.g711_reference import decode, decode_alaw
from support.stack import BUCKET, Stack, run, running_stack, wait_for
from websockets.exceptions import InvalidStatus

from callsim import plivo, telnyx
from callsim.__main__ import main
from callsim.audio import Pcm, read_wav, sample, to_ulaw
from callsim.common import CallResult, End, Impairments, StreamOptions
from callsim.telnyx import encode as telnyx_encode
from devstack import GcsEmulator
from webhook.signatures import plivo_signature

IMPAIRED = Impairments(
    drop=frozenset({10, 11, 50}), duplicate=frozenset({20, 30}), reorder=frozenset({40, 60}), jitter_ms=30, seed=3
)
LATE_MS = 500  # the outbound track starts this much after the inbound one


def channel(pcm: bytes, index: int, channels: int) -> bytes:
    return array.array("h", pcm)[index::channels].tobytes()


def expected_track(
    audio: Pcm, decoded: Callable[[bytes], bytes], dropped: frozenset[int], start_ms: int, length: int
) -> bytes:
    """What the recorder must hold for one track: silence until the track starts, each 20 ms chunk decoded,
    silence for the dropped ones, silence after the track's end up to the longest track's."""
    chunks = [decoded(frame) for frame in audio.frames()]
    placed = b"".join(b"\x00" * len(chunk) if n in dropped else chunk for n, chunk in enumerate(chunks))
    return (b"\x00\x00" * (start_ms * audio.sample_rate // 1000) + placed).ljust(length, b"\x00")


def mulaw(frame: bytes) -> bytes:
    return decode(to_ulaw(frame))


def alaw(frame: bytes) -> bytes:
    return decode_alaw(telnyx_encode(frame, "alaw"))


def assert_both_tracks(stack: Stack, call_id: str, decoded: Callable[[bytes], bytes], impairments: Impairments) -> None:
    caller, agent = read_wav(sample(8000)), read_wav(sample(8000, "agent"))
    recording = stack.stored(call_id)
    assert (recording.channels, recording.sample_rate) == (2, 8000)
    late = impairments.late_ms * 16  # bytes at 8 kHz, 16-bit
    length = max(len(caller.data), late + len(agent.data))
    assert len(recording.pcm) == 2 * length
    assert channel(recording.pcm, 0, 2) == expected_track(caller, decoded, impairments.drop, 0, length)
    assert channel(recording.pcm, 1, 2) == expected_track(agent, decoded, impairments.drop, impairments.late_ms, length)


def both_tracks() -> dict[str, Pcm]:
    return {"inbound": read_wav(sample(8000)), "outbound": read_wav(sample(8000, "agent"))}


def test_telnyx_both_tracks_with_drops_reordering_duplicates_and_a_late_track(gcs_stack: Stack) -> None:
    impairments = dataclasses.replace(IMPAIRED, late_ms=LATE_MS)
    options = StreamOptions(speed=4, impairments=impairments, dtmf=((1.0, "7"),))
    result = run(telnyx.call(gcs_stack.answer_url("telnyx", 8000), both_tracks(), options))

    assert_both_tracks(gcs_stack, result.call_id, mulaw, impairments)
    meta = gcs_stack.stored(result.call_id).metadata
    assert (meta["provider"], meta["tracks"], meta["from"], meta["to"]) == (
        "telnyx",
        "inbound,outbound",
        "+13122010094",
        "+13122123456",
    )
    assert meta["duplicates"] == "4" and int(meta["gap_ms"]) >= 120
    assert '"digit":"7"' in meta["dtmf"] and meta["end_reason"] != "connection closed"


def test_telnyx_pcma(gcs_stack: Stack) -> None:
    """Telnyx streams the codec the TeXML asked for (TELNYX_CODEC=PCMA): the recorder decodes by media_format."""
    call_id = "v3:pcma-call"
    body = urlencode(telnyx.answer_form(call_id, "+1312", "+1313")).encode()
    url, _ = telnyx.stream_verb(telnyx.fetch_texml(gcs_stack.answer_url("telnyx", 8000), body))
    run(telnyx.stream(url, both_tracks(), StreamOptions(speed=0, encoding="alaw"), call_id=call_id))

    assert_both_tracks(gcs_stack, call_id, alaw, Impairments())


@pytest.mark.parametrize("end", ["close", "drop"])
def test_telnyx_without_stop_keeps_everything(gcs_stack: Stack, end: End) -> None:
    options = StreamOptions(speed=0, send_end=False, end=end)
    result = run(telnyx.call(gcs_stack.answer_url("telnyx", 8000), both_tracks(), options))

    assert_both_tracks(gcs_stack, result.call_id, mulaw, Impairments())
    reason = {"close": "connection closed", "drop": "connection dropped"}[end]
    assert gcs_stack.stored(result.call_id).metadata["end_reason"] == reason


def test_plivo_both_tracks_with_drops_reordering_duplicates_and_a_late_outbound_track(gcs_stack: Stack) -> None:
    impairments = dataclasses.replace(IMPAIRED, late_ms=LATE_MS)
    options = StreamOptions(speed=4, impairments=impairments, dtmf=((0.5, "3"),))
    result = run(plivo.call(gcs_stack.answer_url("plivo", 8000), both_tracks(), options))

    assert_both_tracks(gcs_stack, result.call_id, mulaw, impairments)
    meta = gcs_stack.stored(result.call_id).metadata
    assert (meta["provider"], meta["tracks"], meta["from"], meta["to"]) == (
        "plivo",
        "inbound,outbound",
        "14155550100",
        "14155550199",
    )
    assert meta["duplicates"] == "4" and '"digit":"3"' in meta["dtmf"]
    assert meta["end_reason"] == "connection closed"  # Plivo has no stop message


def test_plivo_dropped_connection_keeps_everything(gcs_stack: Stack) -> None:
    result = run(plivo.call(gcs_stack.answer_url("plivo", 8000), both_tracks(), StreamOptions(speed=0, end="drop")))

    assert_both_tracks(gcs_stack, result.call_id, mulaw, Impairments())


def telnyx_stream_url(stack: Stack, call_id: str) -> str:
    body = urlencode(telnyx.answer_form(call_id, "+1", "+2")).encode()
    url, _ = telnyx.stream_verb(telnyx.fetch_texml(stack.answer_url("telnyx", 8000), body))
    return url


def plivo_stream_url(stack: Stack, call_id: str) -> str:
    body = urlencode(plivo.answer_form(call_id, "1", "2")).encode()
    url, _ = plivo.stream_element(plivo.fetch_xml(stack.answer_url("plivo", 8000), body))
    return url


def tampered(url: str) -> str:
    head, _, token = url.rpartition("/")
    return f"{head}/{token[:-2]}{'AA' if not token.endswith('AA') else 'BB'}"


def missing(url: str) -> str:
    return url.rpartition("/")[0]


def other_call(url: str) -> str:
    return url  # a genuine token, for another call id than the stream announces


def refused_with(stream: Coroutine[Any, Any, CallResult]) -> str:
    """How the recorder refused a stream: an HTTP status before the 101, or a close code after it."""
    try:
        return f"close {run(stream).close_code}"
    except InvalidStatus as refusal:
        return f"HTTP {refusal.response.status_code}"


@pytest.mark.parametrize("provider", ["telnyx", "plivo"])
@pytest.mark.parametrize(
    ("change", "refusal", "logged"),
    [
        (tampered, "HTTP 401", "InvalidSignatureError"),  # a token on the upgrade is checked before the 101
        (missing, "close 1008", "no token presented"),  # no token: the handshake must bring one, and does not
        (other_call, "close 1008", "token is for another call"),  # genuine, but not for the call the stream is
    ],
    ids=["tampered", "missing", "other-call"],
)
def test_a_tampered_missing_or_foreign_token_stores_nothing(
    gcs_stack: Stack, provider: str, change: Callable[[str], str], refusal: str, logged: str
) -> None:
    call_id = f"bad-{provider}-{change.__name__}"
    answered_for = f"someone-else-{call_id}" if change is other_call else call_id
    if provider == "telnyx":
        url = change(telnyx_stream_url(gcs_stack, answered_for))
        outcome = refused_with(telnyx.stream(url, both_tracks(), StreamOptions(speed=0), call_id=call_id))
    else:
        url = change(plivo_stream_url(gcs_stack, answered_for))
        outcome = refused_with(plivo.stream(url, both_tracks(), StreamOptions(speed=0), call_id=call_id))

    assert outcome == refusal
    wait_for(lambda: [e for e in gcs_stack.logs() if logged in e["message"]], what="the refusal log")
    assert gcs_stack.find(call_id) is None


def test_a_telnyx_token_does_not_open_a_plivo_stream(gcs_stack: Stack) -> None:
    """Tokens carry the stream path's provider (defects.md #3): refused before the 101."""
    call_id = "cross-provider"
    token = telnyx_stream_url(gcs_stack, call_id).rpartition("/")[2]
    url = f"{gcs_stack.recorder_url}/ws/plivo/{token}"
    assert refused_with(plivo.stream(url, both_tracks(), StreamOptions(speed=0), call_id=call_id)) == "HTTP 403"
    wait_for(lambda: [e for e in gcs_stack.logs() if "another provider" in e["message"]], what="the refusal log")
    assert gcs_stack.find(call_id) is None


TELNYX_KEY = Ed25519PrivateKey.generate()
PLIVO_TOKEN = "plivo-auth-token-for-the-e2e-tests"


@pytest.fixture(scope="module")
def signed_stack(gcs: GcsEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    public = TELNYX_KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    env = {"TELNYX_PUBLIC_KEY": base64.b64encode(public).decode(), "PLIVO_AUTH_TOKEN": PLIVO_TOKEN}
    with running_stack(tmp_path_factory.mktemp("signed-stack"), gcs, rates=(8000,), **env) as stack:
        yield stack


def status(fetch: Callable[[], str]) -> int:
    try:
        fetch()
    except HTTPError as error:
        return error.code
    return 200


def test_signed_telnyx_and_plivo_webhooks_are_answered_and_forged_ones_are_not(signed_stack: Stack) -> None:
    telnyx_url, plivo_url = signed_stack.answer_url("telnyx", 8000), signed_stack.answer_url("plivo", 8000)
    body = urlencode(telnyx.answer_form("v3:signed", "+1312", "+1313")).encode()
    timestamp = str(int(time.time()))
    signature = base64.b64encode(TELNYX_KEY.sign(timestamp.encode() + b"|" + body)).decode()
    signed = {"telnyx-signature-ed25519": signature, "telnyx-timestamp": timestamp}
    forged = {**signed, "telnyx-signature-ed25519": base64.b64encode(Ed25519PrivateKey.generate().sign(body)).decode()}
    assert status(lambda: telnyx.fetch_texml(telnyx_url, body, signed)) == 200
    assert status(lambda: telnyx.fetch_texml(telnyx_url, body, forged)) == 401
    assert status(lambda: telnyx.fetch_texml(telnyx_url, body)) == 401

    form = plivo.answer_form("plivo-signed", "1415", "1416")
    nonce = "98765"
    v3 = plivo_signature(PLIVO_TOKEN, "POST", plivo_url, form.items(), nonce)
    headers = {"X-Plivo-Signature-V3": v3, "X-Plivo-Signature-V3-Nonce": nonce}
    assert status(lambda: plivo.fetch_xml(plivo_url, urlencode(form).encode(), headers)) == 200
    other = urlencode({**form, "CallUUID": "plivo-forged"}).encode()
    assert status(lambda: plivo.fetch_xml(plivo_url, other, headers)) == 401
    assert status(lambda: plivo.fetch_xml(plivo_url, urlencode(form).encode())) == 401
    # Voxology signs nothing, and ALLOW_UNSIGNED is not set here: no token for it either.
    assert status(lambda: telnyx.fetch_texml(signed_stack.answer_url("voxology", 8000), b"{}")) == 401


def test_a_signed_plivo_call_is_recorded(signed_stack: Stack) -> None:
    plivo_url = signed_stack.answer_url("plivo", 8000)
    form = plivo.answer_form("plivo-recorded", "1415", "1416")
    headers = {
        "X-Plivo-Signature-V3": plivo_signature(PLIVO_TOKEN, "POST", plivo_url, form.items(), "1"),
        "X-Plivo-Signature-V3-Nonce": "1",
    }
    url, attributes = plivo.stream_element(plivo.fetch_xml(plivo_url, urlencode(form).encode(), headers))
    run(plivo.stream(url, both_tracks(), StreamOptions(speed=0), call_id="plivo-recorded"))

    assert_both_tracks(signed_stack, "plivo-recorded", mulaw, Impairments())


@pytest.mark.parametrize("provider", ["telnyx", "plivo"])
def test_make_call_places_a_recorded_call(
    gcs_stack: Stack, provider: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make call ARGS="--provider telnyx"` (and plivo), through the simulator's registry, reporting the object."""
    assert gcs_stack.gcs is not None
    monkeypatch.setenv("RECORDINGS_BUCKET", BUCKET)  # as `make run` with a bucket: make call reports the object
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_stack.gcs.url)
    function_url = f"http://127.0.0.1:{gcs_stack.function_ports[8000]}"
    call_id = f"make-call-{provider}"
    argv = ["--provider", provider, "--function-url", function_url, "--speed", "0", "--late-ms", "200"]
    assert main([*argv, "--drop", "3", "--call-id", call_id, "--end", "drop"]) == 0
    out = capsys.readouterr().out
    assert f"{provider} call {call_id}" in out and f"gs://{BUCKET}/" in out
    assert_both_tracks(gcs_stack, call_id, mulaw, Impairments(drop=frozenset({3}), late_ms=200))
