"""A Vonage call end to end: the real function answers, the simulator streams, gunicorn records, storage keeps."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from support.stack import Stack, run, wait_for
from websockets.exceptions import InvalidStatus

from callsim import vonage
from callsim.audio import read_wav, sample
from devstack import LOCAL_SECRET
from webhook.tokens import issue_token


@pytest.mark.parametrize("rate", [8000, 16000, 24000])
def test_stored_pcm_equals_sent_pcm_with_dtmf(gcs_stack: Stack, rate: int) -> None:
    audio = read_wav(sample(rate))
    result = run(vonage.call(gcs_stack.answer_url(rate=rate), audio, speed=0, dtmf=((0.5, "1"), (2.0, "#"))))

    recording = gcs_stack.stored(result.call_id)
    assert recording.pcm == audio.data
    assert result.sent_bytes == len(audio.data)
    assert (recording.channels, recording.sample_rate) == (1, rate)
    assert recording.name.endswith(f"/{result.call_id}.wav") and recording.name.count("/") == 3
    meta = recording.metadata
    assert json.loads(meta["dtmf"]) == [{"digit": "1", "at_ms": 500}, {"digit": "#", "at_ms": 2000}]
    assert (meta["provider"], meta["call_id"], meta["from"], meta["to"]) == (
        "vonage",
        result.call_id,
        "15550100001",
        "15550100002",
    )
    assert meta["sample_rate"] == str(rate) and meta["channels"] == "1"
    assert float(meta["duration_s"]) == pytest.approx(audio.duration_s, abs=0.001)
    assert meta["started_at"] <= meta["ended_at"]
    # The parts the WAV was composed of, then the spool, are removed about a second after it is stored (app.py).
    wait_for(lambda: gcs_stack.spooled() == [], 10, "the spool to be removed")
    assert not [part for part in gcs_stack.parts() if result.call_id in part]


def test_dropped_connection_still_stores_every_frame(gcs_stack: Stack) -> None:
    audio = read_wav(sample(16000))
    result = run(vonage.call(gcs_stack.answer_url(), audio, speed=0, end="drop"))

    recording = gcs_stack.stored(result.call_id)
    assert recording.pcm == audio.data
    assert recording.metadata["end_reason"] == "connection dropped"  # no close frame: told from a clean close


def test_odd_sized_frames_are_stitched_back_together(gcs_stack: Stack) -> None:
    audio = read_wav(sample(8000))
    call_id = "odd-frames"
    ncco = vonage.fetch_ncco(gcs_stack.answer_url(), call_id, "1", "2")
    endpoint = vonage.websocket_endpoint(ncco)
    cut = [audio.data[i : i + 333] for i in range(0, len(audio.data), 333)]  # odd sizes, split samples

    async def stream_odd() -> None:
        from websockets.asyncio.client import connect

        async with connect(endpoint["uri"]) as ws:
            await ws.send(
                json.dumps(
                    {"event": "websocket:connected", "content-type": endpoint["content-type"], **endpoint["headers"]}
                )
            )
            for piece in cut:
                await ws.send(piece)

    run(stream_odd())
    assert gcs_stack.stored(call_id).pcm == audio.data


def _with_token(uri: str, token: str | None) -> str:
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(query=urlencode({"token": token}) if token else ""))


def _tampered(token: str) -> str:
    head, payload, signature = token.split(".")
    return ".".join((head, payload, ("A" if signature[0] != "A" else "B") + signature[1:]))


BAD_TOKENS = [  # a token the upgrade can check (signature, expiry) is refused before the 101
    ("missing", 1008, "no token presented"),
    ("other call", 1008, "token is for another call"),
    ("tampered", 401, "invalid token (InvalidSignatureError)"),
    ("wrong secret", 401, "invalid token (InvalidSignatureError)"),
    ("expired", 401, "token expired"),
]


@pytest.mark.parametrize(("case", "refused_with", "reason"), BAD_TOKENS, ids=[c[0] for c in BAD_TOKENS])
def test_a_bad_token_stores_nothing(gcs_stack: Stack, case: str, refused_with: int, reason: str) -> None:
    call_id = f"bad-token-{case.replace(' ', '-')}"
    endpoint = vonage.websocket_endpoint(vonage.fetch_ncco(gcs_stack.answer_url(), call_id, "1", "2"))
    good = parse_qs(urlsplit(endpoint["uri"]).query)["token"][0]
    token = {
        "missing": None,
        "tampered": _tampered(good),
        "other call": issue_token(LOCAL_SECRET, "some-other-call", "vonage"),
        "wrong secret": issue_token("x" * 40, call_id, "vonage"),
        "expired": issue_token(LOCAL_SECRET, call_id, "vonage", now=0),
    }[case]
    endpoint = {**endpoint, "uri": _with_token(endpoint["uri"], token)}
    before = len([e for e in gcs_stack.logs() if reason in e["message"]])

    try:
        result = run(vonage.stream(endpoint, read_wav(sample(16000)), call_id=call_id, speed=0))
        code = result.close_code
    except InvalidStatus as refused:
        code = refused.response.status_code
    assert code == refused_with
    refusals = wait_for(
        lambda: [e for e in gcs_stack.logs() if reason in e["message"]][before:], what="the refusal log"
    )
    assert len(refusals) == 1 and refusals[0]["severity"] == "WARNING"
    assert gcs_stack.find(call_id) is None
    assert not [path for path in gcs_stack.spooled() if path.name.startswith(call_id)]


def test_twenty_concurrent_calls_all_land_intact(gcs_stack: Stack) -> None:
    audio = read_wav(sample(16000))

    async def twenty() -> list[vonage.CallResult]:
        calls = [vonage.call(gcs_stack.answer_url(), audio, speed=4, call_id=f"concurrent-{n:02d}") for n in range(20)]
        return await asyncio.gather(*calls)

    results = run(twenty())
    for result in results:
        assert gcs_stack.stored(result.call_id).pcm == audio.data


def test_local_directory_sink_gives_the_same_result(local_stack: Stack) -> None:
    audio = read_wav(sample(16000))
    result = run(vonage.call(local_stack.answer_url(), audio, speed=0, dtmf=((1.0, "7"),)))

    recording = local_stack.stored(result.call_id)
    assert recording.pcm == audio.data
    assert recording.metadata["call_id"] == result.call_id
    # The local .json is typed (the bucket's custom metadata is strings, as it must be: one schema, metadata.py).
    assert recording.metadata["dtmf"] == [{"digit": "7", "at_ms": 1000}]
    assert recording.metadata["sample_rate"] == 16000 and recording.metadata["channels"] == 1
    assert recording.metadata["duration_s"] == pytest.approx(audio.duration_s, abs=0.001)
    # Segments, header, lease and spool removed about a second after the WAV exists (app.py).
    wait_for(lambda: local_stack.parts() == [], 10, "the parts to be removed")
    assert local_stack.spooled() == []  # a directory store's call has no spool directory at all
    assert local_stack.recordings_dir is not None
    assert not list(local_stack.recordings_dir.rglob("*.staged-*"))  # no staging file left behind


def test_a_second_stream_for_a_recorded_call_is_refused_and_stores_nothing(local_stack: Stack) -> None:
    first, second = read_wav(sample(16000, "agent")), read_wav(sample(16000))
    first_result = run(vonage.call(local_stack.answer_url(), first, speed=0, call_id="twice"))
    assert local_stack.stored(first_result.call_id).pcm == first.data
    # The same call again, after the first stream ended: a replayed token, or a provider retrying. The claim in
    # the store refuses it on any instance (README: one stream per call).
    replay = run(vonage.call(local_stack.answer_url(), second, speed=0, call_id="twice"))

    assert replay.close_code == 1008
    assert local_stack.recordings_dir is not None
    assert [path.name for path in local_stack.recordings_dir.rglob("twice*.wav")] == ["twice.wav"]
    assert local_stack.stored("twice").pcm == first.data
    assert [e for e in local_stack.logs() if "already being recorded, or was" in e["message"]]
