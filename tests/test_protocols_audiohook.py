"""Genesys AudioHook: golden messages (the dossier's literal shapes, from Genesys' reference implementation), the
upgrade's API key and HTTP message signature (Genesys' documented example, which the reference verifier's own test
verifies), and the session admitting a stream on its upgrade credentials alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.g711_reference import decode
from test_properties import json_values

from callsim.audiohook import signature_headers
from recorder.closing import ProtocolError, Refused
from recorder.events import Audio, CallEnded, CallStarted, Ignored, Reply
from recorder.protocols.audiohook import PROBE, AudioHookAdapter, check_upgrade
from recorder.protocols.twilio import TwilioAdapter
from recorder.session import CallSession
from recorder.settings import Settings, SettingsError
from recorder.store import LocalStore

SESSION = "e160e428-53e2-487c-977d-96989bf5c99d"
MEDIA = [
    {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000},
    {"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 8000},
    {"type": "audio", "format": "PCMU", "channels": ["internal"], "rate": 8000},
]


def message(kind: str, seq: int, parameters: dict[str, Any] | None = None, **extra: Any) -> str:
    body = {"version": "2", "type": kind, "seq": seq, "serverseq": 0, "id": SESSION, "position": "PT0S"}
    return json.dumps({**body, "parameters": parameters or {}, **extra})


def open_message(conversation: str = "090eaa2f-72fa-480a-83e0-8667ff89c0ec", media: Any = MEDIA) -> str:
    # The dossier's literal open, modelled on Genesys' session walkthrough.
    return message(
        "open",
        1,
        {
            "organizationId": "d7934305-0972-4844-938e-9060eef73d05",
            "conversationId": conversation,
            "participant": {
                "id": "883efee8-3d6c-4537-b500-6d7ca4b92fa0",
                "ani": "+1-555-555-1234",
                "aniName": "John Doe",
                "dnis": "+1-800-555-6789",
            },
            "media": media,
            "language": "en-US",
        },
    )


def reply(event: Any) -> dict[str, Any]:
    assert isinstance(event, Reply)
    parsed: dict[str, Any] = json.loads(event.message)
    return parsed


def opened_adapter() -> AudioHookAdapter:
    adapter = AudioHookAdapter()
    adapter.receive(open_message())
    return adapter


def test_open_is_answered_with_the_stereo_offer_and_starts_the_call() -> None:
    opened, started = AudioHookAdapter().receive(open_message())
    assert reply(opened) == {
        "version": "2",
        "type": "opened",
        "seq": 1,
        "clientseq": 1,
        "id": SESSION,
        "parameters": {"startPaused": False, "media": [MEDIA[0]]},
    }
    assert started == CallStarted(
        provider="audiohook",
        call_id="090eaa2f-72fa-480a-83e0-8667ff89c0ec",
        sample_rate=8000,
        tracks=("external", "internal"),
        caller="+1-555-555-1234",
        callee="+1-800-555-6789",
        extra={
            "session_id": SESSION,
            "organization_id": "d7934305-0972-4844-938e-9060eef73d05",
            "participant_id": "883efee8-3d6c-4537-b500-6d7ca4b92fa0",
            "language": "en-US",
        },
        admitted_at_upgrade=True,
    )


def test_stereo_frames_are_split_external_left_internal_right() -> None:
    adapter = opened_adapter()
    external, internal = bytes(range(0, 160)), bytes(range(96, 256))
    frame = bytes(b for pair in zip(external, internal, strict=True) for b in pair)
    assert adapter.receive(frame) == [Audio("external", 0, decode(external)), Audio("internal", 0, decode(internal))]
    # Frame sizes vary (the spec: count samples): the next frame starts where this one ended.
    assert [event.position for event in adapter.receive(frame[:100]) if isinstance(event, Audio)] == [160, 160]


def test_ping_update_and_close_are_answered_with_seq_and_clientseq() -> None:
    adapter = opened_adapter()
    assert reply(adapter.receive(message("ping", 2, {"rtt": "PT0.058S"}))[0]) | {"id": ""} == {
        "version": "2",
        "type": "pong",
        "seq": 2,
        "clientseq": 2,
        "id": "",
        "parameters": {},
    }
    assert reply(adapter.receive(message("update", 3, {"language": "fr-FR"}))[0])["type"] == "updated"
    closed, ended = adapter.receive(message("close", 4, {"reason": "end"}, serverseq=3))
    assert (reply(closed)["type"], reply(closed)["seq"], reply(closed)["clientseq"]) == ("closed", 4, 4)
    assert ended == CallEnded("close: end")


@pytest.mark.parametrize(
    ("seq", "serverseq"),
    [(3, 0), (1, 0), (2, 5)],  # skipped, repeated, and a serverseq we never sent
)
def test_a_seq_out_of_order_is_refused(seq: int, serverseq: int) -> None:
    adapter = opened_adapter()
    with pytest.raises(ProtocolError) as raised:
        adapter.receive(message("ping", seq, serverseq=serverseq))
    assert raised.value.code == 1002


def test_discarded_and_resumed_spans_move_the_next_audio_past_them() -> None:
    adapter = opened_adapter()
    adapter.receive(b"\xff" * 320)  # 160 samples of silence on each channel, at 0
    assert adapter.receive(message("discarded", 2, {"start": "PT0.02S", "discarded": "PT2.5S"})) == []
    assert adapter.receive(b"\xff" * 2)[0] == Audio("external", 160 + 20000, b"\x00\x00")
    assert adapter.receive(message("paused", 3)) == [Ignored("paused")]
    adapter.receive(message("resumed", 4, {"start": "PT2.52S", "discarded": "PT1S"}))
    assert adapter.receive(b"\xff" * 2)[0] == Audio("external", 20161 + 8000 - 1, b"\x00\x00")


def test_the_connection_probe_is_answered_and_never_starts_a_call() -> None:
    adapter = AudioHookAdapter()
    opened, ignored = adapter.receive(open_message(conversation=PROBE))
    assert reply(opened)["type"] == "opened" and ignored == Ignored("connection probe (not recorded)")
    assert adapter.receive(b"\xff" * 320) == [Ignored("audio on a connection probe")]
    closed, ended = adapter.receive(message("close", 2, {"reason": "end"}))
    assert reply(closed)["type"] == "closed" and ended == CallEnded("close: end")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (message("ping", 1), 1002),  # before open
        (open_message(media=[{"type": "audio", "format": "L16", "channels": ["external"], "rate": 8000}]), 1003),
        (open_message(media=[]), 1002),
        (open_message().replace('"version": "2"', '"version": "1"'), 1002),
        (open_message().replace('"conversationId": "090eaa2f', '"conversationId": 7, "x": "'), 1007),
    ],
)
def test_bad_openings_are_refused_with_a_close_code(text: str, code: int) -> None:
    with pytest.raises(ProtocolError) as raised:
        AudioHookAdapter().receive(text)
    assert raised.value.code == code


def test_audio_before_open_and_a_changed_session_id_are_refused() -> None:
    with pytest.raises(ProtocolError):
        AudioHookAdapter().receive(b"\xff" * 320)
    with pytest.raises(ProtocolError):
        opened_adapter().receive(message("ping", 2).replace(SESSION, "another"))


# The upgrade. Genesys' documented example request (dossier section 1.2), and its client secret from the
# reference's signature-verifier.test.ts ("Verify AudioHook documentation example"), which it verifies.
EXAMPLE = {
    "host": "audiohook.example.com",
    "audiohook-organization-id": "d7934305-0972-4844-938e-9060eef73d05",
    "audiohook-session-id": "30b0e395-84d3-4570-ac13-9a62d8f514c0",
    "audiohook-correlation-id": "e160e428-53e2-487c-977d-96989bf5c99d",
    "x-api-key": "SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh",
    "signature": "sig1=:NZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDuJh4=:",
    "signature-input": 'sig1=("@request-target" "@authority" "audiohook-organization-id" "audiohook-session-id" '
    '"audiohook-correlation-id" "x-api-key");keyid="SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh";'
    'nonce="VGhpc0lzQVVuaXF1ZU5vbmNl";alg="hmac-sha256";created=1641013200;expires=3282026430',
}
TARGET = "/api/v1/voicebiometrics/ws"
SECRET = "TXlTdXBlclNlY3JldEtleVRlbGxOby0xITJAMyM0JDU="
CREATED = 1641013200


def configured(**changes: str) -> Settings:
    fields = {"audiohook_api_key": EXAMPLE["x-api-key"], "audiohook_client_secret": SECRET, **changes}
    return Settings(secret="s" * 32, **fields)


def test_genesys_documented_example_verifies() -> None:
    assert check_upgrade(EXAMPLE, TARGET, configured(), now=CREATED + 2) is None


@pytest.mark.parametrize(
    ("changes", "target", "now", "problem"),
    [
        ({"audiohook-session-id": "30b0e395-84d3-4570-ac13-9a62d8f514c1"}, TARGET, 2, "does not match"),
        ({"host": "evil.example.com"}, TARGET, 2, "does not match"),
        ({}, TARGET + "?x=1", 2, "does not match"),
        ({"signature": "sig1=:MZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDuJh4=:"}, TARGET, 2, "does not match"),
        ({}, TARGET, 8, "expired"),  # the reference allows 10 s of age, less its 3 s of skew
        ({}, TARGET, -4, "in the future"),
        ({"signature": "", "signature-input": ""}, TARGET, 2, "not signed"),
        ({"signature-input": "sig1=(((("}, TARGET, 2, "structured field"),
        ({"signature": "other=:NZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDuJh4=:"}, TARGET, 2, "no Signature"),
        ({"signature-input": EXAMPLE["signature-input"].replace(' "x-api-key"', "")}, TARGET, 2, "does not cover"),
    ],
)
def test_a_tampered_stale_or_missing_signature_is_refused(
    changes: dict[str, str], target: str, now: int, problem: str
) -> None:
    refusal = check_upgrade({**EXAMPLE, **changes}, target, configured(), now=CREATED + now)
    assert refusal is not None and problem in refusal


def test_the_api_key_is_required_and_the_path_is_closed_while_it_is_unset() -> None:
    unsigned = {key: value for key, value in EXAMPLE.items() if not key.startswith("signature")}
    assert check_upgrade(unsigned, TARGET, configured(audiohook_client_secret="")) is None
    assert "not the configured key" in str(check_upgrade(unsigned, TARGET, configured(audiohook_api_key="other")))
    assert "no X-API-KEY" in str(check_upgrade({"host": "h"}, TARGET, configured(audiohook_client_secret="")))
    assert "not set" in str(check_upgrade(EXAMPLE, TARGET, configured(audiohook_api_key="")))


def test_the_simulator_signs_as_genesys_does() -> None:
    headers = {key: value for key, value in EXAMPLE.items() if key.startswith(("audiohook", "x-api"))}
    signed = signature_headers(headers, "/ws/audiohook", "127.0.0.1:8000", EXAMPLE["x-api-key"], SECRET, created=5)
    upgrade = {**headers, "host": "127.0.0.1:8000", **{k.lower(): v for k, v in signed.items()}}
    assert check_upgrade(upgrade, "/ws/audiohook", configured(), now=6) is None
    assert check_upgrade(upgrade, "/ws/twilio", configured(), now=6) is not None


def test_the_session_admits_audiohook_on_its_upgrade_and_still_wants_a_token_from_twilio(tmp_path: Path) -> None:
    config = Settings(secret="s" * 32, spool_dir=str(tmp_path / "spool"))
    (tmp_path / "spool").mkdir()
    audiohook = CallSession(AudioHookAdapter(), config, LocalStore(str(tmp_path / "store")), spool_dir=tmp_path)
    audiohook.receive([open_message()])
    assert audiohook.call is not None and audiohook.call.call_id == "090eaa2f-72fa-480a-83e0-8667ff89c0ec"
    assert audiohook.finish("test") is not None  # stored: a call like any other
    audiohook.clean_up()  # the parts and the spool directory, as the socket loop does after the store
    twilio = CallSession(TwilioAdapter(), config, LocalStore(str(tmp_path / "store")), spool_dir=tmp_path)
    start = {"callSid": "CA1", "tracks": ["inbound"], "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000}}
    with pytest.raises(Refused, match="no token presented"):
        twilio.receive([json.dumps({"event": "start", "start": start})])
    # A token presented to an upgrade-admitted path is still checked.
    forged = CallSession(AudioHookAdapter(), config, LocalStore(str(tmp_path / "s2")), "forged", spool_dir=tmp_path)
    with pytest.raises(Refused, match="invalid token"):
        forged.receive([open_message()])


def test_the_client_secret_setting_must_be_base64() -> None:
    env = {"RECORDER_SECRET": "s" * 32, "AUDIOHOOK_CLIENT_SECRET": "not base64!"}
    with pytest.raises(SettingsError, match="AUDIOHOOK_CLIENT_SECRET"):
        Settings.from_env(env)
    parsed = Settings.from_env({**env, "AUDIOHOOK_CLIENT_SECRET": SECRET, "AUDIOHOOK_API_KEY": "k" * 16})
    assert (parsed.audiohook_client_secret, parsed.audiohook_api_key) == (SECRET, "k" * 16)


parameters = st.dictionaries(
    st.sampled_from(["start", "discarded", "reason", "media", "conversationId", "participant", "rtt"]),
    st.sampled_from(["PT0S", "PT1.5S", "PT999999999.999999999S", "P1D", "end", PROBE, "c-1"]) | json_values,
    max_size=4,
)
envelopes = st.tuples(
    st.sampled_from(["open", "ping", "update", "paused", "resumed", "discarded", "close", "error", "x"]),
    parameters | st.just(json.loads(open_message())["parameters"]),
)


@settings(max_examples=300, deadline=None)
@given(sequence=st.lists(envelopes | st.binary(max_size=64) | st.text(max_size=40), max_size=20))
def test_whatever_arrives_the_adapter_returns_events_or_raises_protocol_error(sequence: list[Any]) -> None:
    adapter, seq = AudioHookAdapter(), 0
    for item in sequence:
        if isinstance(item, tuple):
            seq += 1
            item = message(item[0], seq, item[1])
        try:
            events = adapter.receive(item)
        except ProtocolError as error:
            assert 1000 <= error.code < 5000 and error.reason
            return
        for event in events:
            if isinstance(event, Audio):
                assert event.position >= 0 and len(event.pcm) % 2 == 0
            if isinstance(event, Reply):
                assert reply(event)["seq"] >= 1
