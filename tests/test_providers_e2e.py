"""Twilio, SignalWire and Voxology calls end to end: channels placed by the provider's clock, sample for sample."""

from __future__ import annotations

import array
import asyncio
import json
import time

import pytest
from support.g711_reference import decode
from support.rawws import RawClient
from support.stack import Stack, run, wait_for
from websockets.asyncio.client import connect

from callsim import twilio, voxology
from callsim.audio import Pcm, read_wav, sample, to_ulaw
from callsim.common import End, Impairments, StreamOptions


def channel(pcm: bytes, index: int, channels: int) -> bytes:
    return array.array("h", pcm)[index::channels].tobytes()


def expected_track(audio: Pcm, dropped: frozenset[int], length: int, mulaw: bool) -> bytes:
    """What the recorder must hold for one track: each 20 ms chunk decoded, silence for the dropped ones,
    silence after the track's end up to the longest track's."""
    chunks = [decode(to_ulaw(frame)) if mulaw else frame for frame in audio.frames()]
    placed = b"".join(b"\x00" * len(chunk) if n in dropped else chunk for n, chunk in enumerate(chunks))
    return placed.ljust(length, b"\x00")


FAST = StreamOptions(speed=0)
IMPAIRED = Impairments(
    drop=frozenset({10, 11, 50}), duplicate=frozenset({20, 30}), reorder=frozenset({40, 60}), jitter_ms=30, seed=7
)


def test_twilio_both_tracks_with_drops_reordering_and_duplicates(gcs_stack: Stack) -> None:
    caller, agent = read_wav(sample(8000)), read_wav(sample(8000, "agent"))
    result = run(
        twilio.call(
            gcs_stack.answer_url("twilio"),
            {"inbound": caller, "outbound": agent},
            StreamOptions(speed=4, impairments=IMPAIRED),
        )
    )

    recording = gcs_stack.stored(result.call_id)
    assert (recording.channels, recording.sample_rate) == (2, 8000)
    length = len(caller.data)  # the longer track: the file ends with it
    assert channel(recording.pcm, 0, 2) == expected_track(caller, IMPAIRED.drop, length, mulaw=True)
    assert channel(recording.pcm, 1, 2) == expected_track(agent, IMPAIRED.drop, length, mulaw=True)
    meta = recording.metadata
    assert (meta["provider"], meta["tracks"], meta["from"]) == ("twilio", "inbound,outbound", "+15550100001")
    assert (meta["duplicates"], meta["late_drops"], meta["end_reason"]) == ("4", "0", "ended by provider: stop")
    assert int(meta["gaps"]) >= 4 and int(meta["gap_ms"]) >= 120  # 3 chunks lost on each track


def test_signalwire_l16_at_16khz(gcs_stack: Stack) -> None:
    caller, agent = read_wav(sample(16000)), read_wav(sample(16000, "agent"))
    result = run(
        twilio.call(
            gcs_stack.answer_url("twilio"),
            {"inbound": caller, "outbound": agent},
            StreamOptions(speed=0, encoding="l16"),
            dialect="signalwire",
        )
    )

    recording = gcs_stack.stored(result.call_id)
    assert (recording.channels, recording.sample_rate) == (2, 16000)
    assert channel(recording.pcm, 0, 2) == caller.data
    assert channel(recording.pcm, 1, 2) == agent.data.ljust(len(caller.data), b"\x00")


def test_voxology_two_tracks(gcs_stack: Stack) -> None:
    caller, transfer = read_wav(sample(8000)), read_wav(sample(8000, "agent"))
    impairments = Impairments(drop=frozenset({5}), reorder=frozenset({100}))
    result = run(
        voxology.call(
            gcs_stack.answer_url("voxology"),
            {"caller": caller, "transfer": transfer},
            StreamOptions(speed=0, impairments=impairments),
        )
    )

    recording = gcs_stack.stored(result.call_id)
    assert recording.channels == 2
    length = len(caller.data)
    assert channel(recording.pcm, 0, 2) == expected_track(caller, impairments.drop, length, mulaw=True)
    assert channel(recording.pcm, 1, 2) == expected_track(transfer, impairments.drop, length, mulaw=True)
    assert recording.metadata["end_reason"] == "ended by provider: end_stream"
    assert recording.name.endswith(f"/{result.call_id.replace('@', '_')}.wav")


@pytest.mark.parametrize("lost", [frozenset({0}), frozenset({0, 1, 2})])
def test_voxology_a_lost_first_chunk_leaves_silence_and_the_tracks_stay_aligned(
    gcs_stack: Stack, lost: frozenset[int]
) -> None:
    """defects.md #8: each track is anchored at its start_track, so losing its first chunks must not shift it."""
    caller, transfer = read_wav(sample(8000)), read_wav(sample(8000, "agent"))
    impairments = Impairments(drop=lost)
    result = run(
        voxology.call(
            gcs_stack.answer_url("voxology"),
            {"caller": caller, "transfer": transfer},
            StreamOptions(speed=0, impairments=impairments),
        )
    )

    recording = gcs_stack.stored(result.call_id)
    length = len(caller.data)
    assert channel(recording.pcm, 0, 2) == expected_track(caller, lost, length, mulaw=True)
    assert channel(recording.pcm, 1, 2) == expected_track(transfer, lost, length, mulaw=True)


@pytest.mark.parametrize("end", ["close", "drop"])
def test_a_stream_that_ends_without_stop_keeps_everything(gcs_stack: Stack, end: End) -> None:
    caller = read_wav(sample(8000))
    options = StreamOptions(speed=0, send_end=False, end=end)
    result = run(twilio.call(gcs_stack.answer_url("twilio"), {"inbound": caller}, options))

    recording = gcs_stack.stored(result.call_id)
    assert recording.channels == 1
    assert recording.pcm == decode(to_ulaw(caller.data))
    assert recording.metadata["end_reason"] == {"close": "connection closed", "drop": "connection dropped"}[end]


@pytest.mark.parametrize("token", ["wrong", None])
def test_twilio_without_a_valid_token_stores_nothing(gcs_stack: Stack, token: str | None) -> None:
    call_id = f"CA-bad-{token}"
    url, _, parameters = twilio.stream_verb(twilio.fetch_twiml(gcs_stack.answer_url("twilio"), call_id, "1", "2"))
    parameters = {**parameters, "token": token} if token else {k: v for k, v in parameters.items() if k != "token"}
    result = run(twilio.stream(url, parameters, {"inbound": read_wav(sample(8000))}, FAST, call_id=call_id))

    assert result.close_code == 1008
    wait_for(lambda: [e for e in gcs_stack.logs() if call_id in e["message"]], what="the refusal log")
    assert gcs_stack.find(call_id) is None


def test_voxology_with_another_calls_token_stores_nothing(gcs_stack: Stack) -> None:
    other = voxology.stream_action(voxology.fetch_call_flow(gcs_stack.answer_url("voxology"), "other@1", "1", "2"))
    result = run(voxology.stream(other, {"caller": read_wav(sample(8000))}, FAST, call_id="mine@2"))

    assert result.close_code == 1008
    wait_for(lambda: [e for e in gcs_stack.logs() if "mine_2" in e["message"]], what="the refusal log")
    assert gcs_stack.find("mine@2") is None


def test_a_connection_that_never_identifies_its_call_is_closed_with_1008(gcs_stack: Stack) -> None:
    async def silent() -> int | None:
        async with connect(f"{gcs_stack.recorder_url}/ws/twilio") as ws:
            await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            await asyncio.wait_for(ws.wait_closed(), timeout=10)
            return ws.close_code

    assert run(silent()) == 1008
    assert any("no authorised call handshake within 2 s" in e["message"] for e in gcs_stack.logs())


@pytest.mark.parametrize("path", ["/ws/twilio", "/ws/telnyx", "/ws/plivo"])
def test_another_providers_protocol_is_refused_at_once(gcs_stack: Stack, path: str) -> None:
    """Vonage's websocket:connected on a Twilio-style path closes with 1002 at once, not at the handshake timeout."""
    client = RawClient(gcs_stack.recorder_port, path)
    started = time.monotonic()
    client.text(json.dumps({"event": "websocket:connected", "content-type": "audio/l16;rate=16000", "uuid": "u"}))
    assert client.close_code() == 1002
    assert time.monotonic() - started < 1.5  # the handshake timeout is 2 s on this stack
    client.close()
