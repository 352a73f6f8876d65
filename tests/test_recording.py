"""The durable recording, on a real local store: segments while live, one final WAV, nothing left behind."""

from __future__ import annotations

import io
import json
import wave
from pathlib import Path
from typing import Any

import gevent
import pytest

from recorder.closing import Refused
from recorder.metadata import DTMF_BUDGET, GCS_METADATA_BUDGET, for_gcs
from recorder.recording import CALLS, LEASES, Recording, assemble, claim, segment_name
from recorder.store import LocalStore

RATE = 8000


def manifest(key: str = "call-1", channels: int = 1) -> dict[str, Any]:
    return {
        "key": key,
        "stream_id": "stream-" + key,
        "object_name": f"2026/12/01/{key}.wav",
        "sample_rate": RATE,
        "channels": channels,
        "metadata": {"provider": "vonage", "call_id": key, "sample_rate": RATE, "channels": channels},
    }


def recording(tmp_path: Path, key: str = "call-1", channels: int = 1, segment_s: int = 2) -> Recording:
    spool = tmp_path / "spool" / key
    spool.mkdir(parents=True)
    return Recording(LocalStore(str(tmp_path / "store")), spool, manifest(key, channels), segment_s, deadline_s=5)


def wav_of(path: Path) -> tuple[bytes, int, int]:
    with wave.open(io.BytesIO(path.read_bytes())) as wav:
        return wav.readframes(wav.getnframes()), wav.getnchannels(), wav.getframerate()


def pcm(seconds: float, channels: int = 1) -> bytes:
    return bytes(range(256)) * int(seconds * RATE * channels * 2 / 256)


def test_segments_reach_the_store_while_the_call_is_live_and_the_spool_stays_small(tmp_path: Path) -> None:
    live = recording(tmp_path)
    audio = pcm(9)  # four whole 2 s segments and a part
    for offset in range(0, len(audio), 320):
        live.write(audio[offset : offset + 320])
        gevent.sleep(0)  # the socket loop yields on every read; uploads run then
        spooled = sum(p.stat().st_size for p in live.spool_dir.glob("seg-*"))
        assert spooled <= 2 * 2 * RATE * 2  # at most about two segments, whatever the call's length
    gevent.sleep(0.1)  # let the last uploads run
    store = tmp_path / "store"
    segments = sorted((store / CALLS / "call-1").glob("seg-*"))
    assert [p.stat().st_size for p in segments] == [2 * RATE * 2] * 4
    assert b"".join(p.read_bytes() for p in segments) == audio[: 4 * 2 * RATE * 2]
    lease = json.loads((store / LEASES / "call-1").read_bytes())
    assert lease["stream_id"] == "stream-call-1" and lease["renewed_at"] > 0
    live.abandon()


def test_the_final_wav_is_bit_exact_and_no_part_is_left(tmp_path: Path) -> None:
    live = recording(tmp_path, channels=2)
    audio = pcm(5, channels=2)
    live.write(audio[:1001])  # a partial frame waits for the rest of its bytes
    live.write(audio[1001:])
    location = live.finish({"provider": "vonage", "duration_s": 5.0, "dtmf": [{"digit": "1", "at_ms": 5}]})
    live.clean_up()

    assert wav_of(Path(location)) == (audio, 2, RATE)
    sidecar = json.loads(Path(location).with_suffix(".json").read_text())
    assert sidecar["dtmf"] == [{"digit": "1", "at_ms": 5}] and sidecar["stream_id"] == "stream-call-1"
    assert not (tmp_path / "store" / ".parts" / "calls" / "call-1").exists() or not list(
        (tmp_path / "store" / ".parts" / "calls" / "call-1").iterdir()
    )
    assert not (tmp_path / "store" / LEASES / "call-1").exists()
    assert not live.spool_dir.exists()


def test_the_parts_stay_until_clean_up(tmp_path: Path) -> None:
    """The deletes come after "recording stored" (the session's clean_up), so that a burst of hang-ups is stored
    first; the request count the stored log line carries includes them already."""
    live = recording(tmp_path)
    live.write(pcm(5))
    location = live.finish({"provider": "vonage"})
    counted = live.requests

    parts = tmp_path / "store" / CALLS / "call-1"
    assert wav_of(Path(location))[0] == pcm(5)
    assert sorted(p.name for p in parts.iterdir()) == ["header", "seg-000001", "seg-000002", "seg-000003"]
    assert (tmp_path / "store" / LEASES / "call-1").exists() and live.spool_dir.exists()
    live.clean_up()
    assert not list(parts.iterdir()) and not (tmp_path / "store" / LEASES / "call-1").exists()
    assert not live.spool_dir.exists()
    # Seven while live (the first lease, three segments and their renewals), the listing, header and compose,
    # and the listing and five deletes clean_up makes: counted by finish(), as before they moved.
    assert counted == 7 + 3 + 6


def test_a_long_call_composes_in_stages_of_32(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path / "store"))
    chunks = [bytes([n]) * 8 for n in range(70)]  # 70 segments + a header: three stages of compose
    for index, chunk in enumerate(chunks, 1):
        assert store.create(segment_name("long", index), chunk)
    composed: list[int] = []
    original = store.compose

    def counting(sources: Any, name: str, metadata: Any, content_type: str, create_only: bool) -> bool:
        assert len(sources) <= 32
        composed.append(len(sources))
        return original(sources, name, metadata, content_type, create_only)

    store.compose = counting  # type: ignore[method-assign]
    location, _ = assemble(store, {**manifest("long"), "metadata": {}})

    assert wav_of(Path(location))[0] == b"".join(chunks)
    assert len(composed) == 4  # 71 sources -> 3 stage objects -> the final
    assert not store.sizes(f"{CALLS}long/")


def test_a_call_longer_than_a_wav_can_hold_is_ended(tmp_path: Path) -> None:
    live = recording(tmp_path)
    live.data_bytes = 2**32 - 44 - 100
    with pytest.raises(Refused, match="longer than a WAV"):
        live.write(b"\x00" * 200)


def test_a_claim_is_taken_once_and_a_lost_response_is_still_ours(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path))
    claim(store, "c", "stream-a")
    claim(store, "c", "stream-a")  # the retry after a lost response meets its own claim
    with pytest.raises(Refused, match="already being recorded"):
        claim(store, "c", "stream-b")


def test_assembling_twice_leaves_one_recording(tmp_path: Path) -> None:
    """A lost response, or two instances recovering the same call: still one object (defects.md #9)."""
    store = LocalStore(str(tmp_path))
    store.create(segment_name("twice", 1), b"\x01\x00" * 10)
    first, _ = assemble(store, manifest("twice"))
    store.create(segment_name("twice", 1), b"\x01\x00" * 10)  # as if the delete had been lost
    second, _ = assemble(store, manifest("twice"))
    assert first == second
    assert [p.name for p in tmp_path.rglob("*.wav")] == ["twice.wav"]


def test_assembling_refuses_a_name_that_is_not_a_recordings(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path / "store"))
    with pytest.raises(ValueError, match="not a recording's name"):
        assemble(store, {**manifest(), "object_name": "../../.config/autostart/planted.wav"})


def test_gcs_metadata_stays_within_its_budget_whatever_the_call(tmp_path: Path) -> None:
    typed = {
        "provider": "vonage",
        "call_id": "x" * 128,
        "dtmf": [{"digit": "5", "at_ms": n * 300} for n in range(3000)],  # a very long IVR session
        **{f"X-Header-{n}": "v" * 400 for n in range(40)},
    }
    metadata = for_gcs(typed)
    assert sum(len(k) + len(v) for k, v in metadata.items()) <= GCS_METADATA_BUDGET
    kept = json.loads(metadata["dtmf"])
    assert len(metadata["dtmf"]) <= DTMF_BUDGET and kept == typed["dtmf"][: len(kept)]
    assert int(metadata["dtmf_truncated"]) == 3000 - len(kept)
    assert metadata["call_id"] == "x" * 128
