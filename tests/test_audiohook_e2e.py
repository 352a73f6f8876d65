"""Genesys AudioHook end to end: the simulated Genesys client against the real recorder under gunicorn and the
Cloud Storage emulator. Stereo PCMU compared sample for sample with an independent G.711 decode."""

from __future__ import annotations

import array
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.g711_reference import decode
from support.stack import BUCKET, Stack, run, running_stack, wait_for
from websockets.exceptions import InvalidStatus

from callsim import audiohook
from callsim.audio import FRAME_S, Pcm, read_wav, sample, to_ulaw
from callsim.common import Impairments, StreamOptions
from devstack import GcsEmulator

API_KEY = "an-audiohook-api-key-for-tests"
SECRET = "TXlTdXBlclNlY3JldEtleVRlbGxOby0xITJAMyM0JDU="
FAST = StreamOptions(speed=0)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stack(gcs: GcsEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"AUDIOHOOK_API_KEY": API_KEY, "AUDIOHOOK_CLIENT_SECRET": SECRET}
    with running_stack(tmp_path_factory.mktemp("audiohook"), gcs, **env) as running:
        yield running


def url(stack: Stack) -> str:
    return f"{stack.recorder_url}/ws/audiohook"


def channel(pcm: bytes, index: int) -> bytes:
    return array.array("h", pcm)[index::2].tobytes()


def expected(audio: Pcm, length: int, discarded: frozenset[int] = frozenset()) -> bytes:
    """What Genesys streamed for one party: the call's whole length in 20 ms PCMU frames, decoded by the
    reference decoder, the discarded frames silence."""
    frames = Pcm(audio.data.ljust(length, b"\x00"), audio.sample_rate).frames()
    return b"".join(b"\x00" * len(f) if n in discarded else decode(to_ulaw(f)) for n, f in enumerate(frames))


def parties() -> tuple[Pcm, Pcm, int]:
    external, internal = read_wav(sample(8000)), read_wav(sample(8000, "agent"))
    return external, internal, max(len(external.data), len(internal.data))  # both channels run the whole call


def test_a_signed_stereo_conversation_with_pings_and_a_discarded_span(stack: Stack) -> None:
    external, internal, length = parties()
    discarded = frozenset(range(60, 185))  # 2.5 s the client dropped: silence of that length at its start
    options = StreamOptions(speed=0, impairments=Impairments(drop=discarded))
    result = audiohook_call(stack, {"external": external, "internal": internal}, options)

    recording = stack.stored(result.call_id)
    assert (recording.channels, recording.sample_rate) == (2, 8000)
    assert channel(recording.pcm, 0) == expected(external, length, discarded)  # left: the customer
    assert channel(recording.pcm, 1) == expected(internal, length, discarded)  # right: the agent
    meta = recording.metadata
    assert (meta["provider"], meta["call_id"], meta["tracks"]) == ("audiohook", result.call_id, "external,internal")
    assert (meta["from"], meta["to"], meta["end_reason"]) == (
        "+15550100001",
        "+18005550100",
        "ended by provider: close: end",
    )
    kinds = [reply["type"] for reply in result.replies]
    assert kinds[0] == "opened" and kinds[-1] == "closed" and kinds.count("pong") == pings(length)
    assert [reply["seq"] for reply in result.replies] == list(range(1, len(kinds) + 1))
    assert result.replies[0]["parameters"]["media"][0]["channels"] == ["external", "internal"]
    assert result.close_code == 1000
    assert (meta["gaps"], meta["gap_ms"]) == ("2", "5000")  # the 2.5 s discarded span, counted on each channel


def pings(length: int) -> int:
    """One every PING_EVERY_S of frames, none with the first."""
    frames = -(-length // (2 * int(8000 * FRAME_S)))
    return (frames - 1) // round(audiohook.PING_EVERY_S / FRAME_S)


def audiohook_call(
    stack: Stack,
    tracks: dict[str, Pcm],
    options: StreamOptions,
    api_key: str = API_KEY,
    secret: str = SECRET,
    **kw: str,
) -> audiohook.AudioHookResult:
    call = audiohook.call(url(stack), tracks, options, api_key=api_key, client_secret=secret, **kw)
    result: audiohook.AudioHookResult = run(call)
    return result


def test_the_connection_probe_is_answered_and_stores_nothing(stack: Stack) -> None:
    external, internal, _ = parties()
    result = audiohook_call(stack, {"external": external, "internal": internal}, FAST, call_id=audiohook.PROBE)

    assert [reply["type"] for reply in result.replies] == ["opened", "closed"]
    assert result.close_code == 1000
    wait_for(lambda: any("connection probe" in e["message"] for e in stack.logs()), what="the probe's log line")
    assert stack.find(audiohook.PROBE) is None


@pytest.mark.parametrize(
    ("api_key", "secret", "problem"),
    [
        ("the-wrong-key-entirely", SECRET, "X-API-KEY is not the configured key"),
        (API_KEY, "", "the upgrade is not signed"),
        (API_KEY, "QW5vdGhlclNlY3JldEtleVRoYXRJc1dyb25nIQ==", "the signature does not match"),
    ],
)
def test_wrong_credentials_are_refused_before_the_101_and_store_nothing(
    stack: Stack, api_key: str, secret: str, problem: str
) -> None:
    external, internal, _ = parties()
    conversation = f"refused-{abs(hash(problem))}"
    with pytest.raises(InvalidStatus) as refused:
        audiohook_call(
            stack,
            {"external": external, "internal": internal},
            FAST,
            api_key=api_key,
            secret=secret,
            call_id=conversation,
        )

    assert refused.value.response.status_code == 401
    wait_for(lambda: any(problem in e["message"] for e in stack.logs()), what="the refusal's log line")
    assert stack.find(conversation) is None


def test_the_path_takes_nothing_while_no_api_key_is_set(gcs_stack: Stack) -> None:
    external, internal, _ = parties()
    with pytest.raises(InvalidStatus) as refused:
        run(audiohook.call(url(gcs_stack), {"external": external, "internal": internal}, FAST, api_key=API_KEY))

    assert refused.value.response.status_code == 401
    assert any("AUDIOHOOK_API_KEY is not set" in e["message"] for e in gcs_stack.logs())


def test_a_dropped_connection_without_close_keeps_everything_received(stack: Stack) -> None:
    external, internal, length = parties()
    result = audiohook_call(
        stack, {"external": external, "internal": internal}, StreamOptions(speed=0, send_end=False, end="drop")
    )

    recording = stack.stored(result.call_id)
    assert channel(recording.pcm, 0) == expected(external, length)
    assert channel(recording.pcm, 1) == expected(internal, length)
    # Every ping's pong went to a peer already gone: what it had sent was still read, and recorded.
    assert recording.metadata["end_reason"] == "connection dropped"


def test_make_call_places_a_signed_conversation_and_reports_it(stack: Stack) -> None:
    assert stack.gcs is not None
    env = {**os.environ, "AUDIOHOOK_API_KEY": API_KEY, "AUDIOHOOK_CLIENT_SECRET": SECRET}
    env.update(RECORDINGS_BUCKET=BUCKET, STORAGE_EMULATOR_HOST=stack.gcs.url)
    argv = ["--provider", "audiohook", "--recorder-url", stack.recorder_url, "--speed", "0", "--drop", "50,51"]
    result = subprocess.run(
        [sys.executable, "-m", "callsim", *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stdout + result.stderr
    # Both channels' audio but the two discarded 20 ms frames; stored as the whole conversation.
    assert "sent 13.74 s of audio over 2 tracks, ended by close, the recorder closed with 1000" in result.stdout
    assert "stored 6.91 s, 8000 Hz 2 channels: gs://" in result.stdout
