"""The durable recording, on a real local store (and, for what only Cloud Storage does, fake-gcs-server):
segments while live, one final WAV, nothing left behind."""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

import gevent
import pytest
from support.stack import BUCKET

from devstack import ROOT, GcsEmulator
from recorder.closing import Refused
from recorder.metadata import DTMF_BUDGET, GCS_METADATA_BUDGET, for_gcs
from recorder.recording import LEASES, Recording, assemble, claim, remove_parts
from recorder.spool import prepare, sweep
from recorder.store import CALLS, GcsStore, LocalStore
from recorder.wav import HEADER_SIZE, header

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
    store = LocalStore(str(tmp_path / "store"))
    return Recording(store, prepare(str(tmp_path / "spool")), key, manifest(key, channels), segment_s, deadline_s=5)


def wav_of(path: Path) -> tuple[bytes, int, int]:
    with wave.open(io.BytesIO(path.read_bytes())) as wav:
        return wav.readframes(wav.getnframes()), wav.getnchannels(), wav.getframerate()


def pcm(seconds: float, channels: int = 1) -> bytes:
    return bytes(range(256)) * int(seconds * RATE * channels * 2 / 256)


@pytest.mark.slow
def test_segments_reach_the_store_while_the_call_is_live_and_the_spool_stays_small(
    tmp_path: Path, gcs: GcsEmulator
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    store = GcsStore(BUCKET, client=gcs.client())
    live = Recording(store, spool, "live-gcs.stream", manifest("live-gcs"), 2, deadline_s=5)
    audio = pcm(9)  # four whole 2 s segments and a part
    for offset in range(0, len(audio), 320):
        live.write(audio[offset : offset + 320])
        gevent.sleep(0)  # the socket loop yields on every read; uploads run then
        assert live.spool_dir is not None
        spooled = sum(p.stat().st_size for p in live.spool_dir.glob("seg-*"))
        assert spooled <= 2 * 2 * RATE * 2  # at most about two segments, whatever the call's length
    gevent.sleep(0.5)  # let the last uploads run
    bucket = gcs.client().bucket(BUCKET)
    segments = sorted(bucket.list_blobs(prefix=f"{CALLS}live-gcs/seg-"), key=lambda blob: blob.name)
    assert [blob.size for blob in segments] == [2 * RATE * 2] * 4
    assert b"".join(blob.download_as_bytes() for blob in segments) == audio[: 4 * 2 * RATE * 2]
    lease = json.loads(bucket.blob(f"{LEASES}live-gcs").download_as_bytes())
    assert lease["stream_id"] == "stream-live-gcs" and lease["renewed_at"] > 0
    live.abandon()
    live.release()
    # The emulator's bucket is the session's: leave nothing under .parts/ (test_durability checks it is empty).
    remove_parts(store, "live-gcs", {index: 2 * RATE * 2 for index in range(1, 5)})
    assert not store.sizes(f"{CALLS}live-gcs/") and not store.sizes(f"{LEASES}live-gcs")


def test_on_a_directory_the_audio_goes_straight_into_the_store(tmp_path: Path) -> None:
    """A local store's file is as durable as a spool file would be: the audio is written there once, at its
    place after room for the header, and the call has no spool directory at all."""
    live = recording(tmp_path)
    audio = pcm(9)
    for offset in range(0, len(audio), 320):
        live.write(audio[offset : offset + 320])
    assert live.spool_dir is None and not list((tmp_path / "spool").iterdir())
    stored = (tmp_path / "store" / CALLS / "call-1" / "audio").read_bytes()[HEADER_SIZE:]
    assert len(audio) - len(stored) <= 8192  # what the file object buffers
    assert stored == audio[: len(stored)]
    live.abandon()
    assert (tmp_path / "store" / CALLS / "call-1" / "audio").read_bytes()[HEADER_SIZE:] == audio  # flushed
    live.release()


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
    assert not list((tmp_path / "spool").iterdir())
    live.release()


def test_the_parts_stay_until_clean_up(tmp_path: Path) -> None:
    """The deletes come after "recording stored" (the session's clean_up), so that a burst of hang-ups is stored
    first."""
    live = recording(tmp_path)
    live.write(pcm(5))
    location = live.finish({"provider": "vonage"})

    parts = tmp_path / "store" / CALLS / "call-1"
    assert wav_of(Path(location))[0] == pcm(5)
    assert sorted(p.name for p in parts.iterdir()) == ["audio", "metadata.json"]  # both linked into place
    assert (tmp_path / "store" / LEASES / "call-1").exists()
    assert LocalStore(str(tmp_path / "store")).in_use("call-1")  # still held: no sweep takes it meanwhile
    live.clean_up()
    live.release()
    assert not parts.exists() and not (tmp_path / "store" / LEASES / "call-1").exists()
    assert wav_of(Path(location))[0] == pcm(5)  # the recording is its own file, whatever went with the parts
    # The first lease, and nothing else: the audio went straight into the store's file, assembling a directory
    # makes no request, and deletes are not counted (free in Cloud Storage).
    assert live.requests == 1


def test_a_segment_added_again_changes_nothing(tmp_path: Path) -> None:
    """The sweeper adds the segments a dead worker left in its spool, and cannot know whether the first attempt
    landed: on a directory each part is written at its own place, so the same bytes land there again."""
    store = LocalStore(str(tmp_path / "store"))
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_bytes(b"\x01\x00" * 8)
    second.write_bytes(b"\x02\x00" * 3)
    for path, index in [(first, 1), (second, 2), (second, 2), (first, 1)]:
        store.add_part("again", index, (index - 1) * 16, path)
    assert store.parts("again") == {1: 22}
    location, _ = assemble(store, {**manifest("again"), "metadata": {}})
    assert wav_of(Path(location))[0] == b"\x01\x00" * 8 + b"\x02\x00" * 3


@pytest.mark.slow
def test_a_long_call_composes_in_stages_of_32(tmp_path: Path, gcs: GcsEmulator) -> None:
    """Cloud Storage's compose takes 32 sources a request: 70 segments and a header compose in stages, on
    fake-gcs-server, and nothing is left under the call's key."""
    store = GcsStore(BUCKET, client=gcs.client())
    chunks = [bytes([n]) * 8 for n in range(70)]  # 70 segments + a header: three stage objects, then the final
    for index, chunk in enumerate(chunks, 1):
        (tmp_path / "segment").write_bytes(chunk)
        store.add_part("long", index, (index - 1) * 8, tmp_path / "segment")
    composed: list[int] = []
    original = store._compose

    def counting(sources: Any, name: str, metadata: Any, content_type: str, create_only: bool) -> None:
        assert len(sources) <= 32
        composed.append(len(sources))
        original(sources, name, metadata, content_type, create_only)

    store._compose = counting  # type: ignore[method-assign]
    location, requests = assemble(store, {**manifest("long"), "metadata": {}})

    name = location.removeprefix(f"gs://{BUCKET}/")
    assert gcs.client().bucket(BUCKET).blob(name).download_as_bytes()[HEADER_SIZE:] == b"".join(chunks)
    assert len(composed) == 4  # 71 sources -> 3 stage objects -> the final
    assert requests == 1 + 1 + 3 + 1  # the listing, the header, the stages and the final compose
    assert not store.sizes(f"{CALLS}long/")


def test_a_call_longer_than_a_wav_can_hold_is_ended(tmp_path: Path) -> None:
    live = recording(tmp_path)
    live.data_bytes = 2**32 - 44 - 100
    with pytest.raises(Refused, match="longer than a WAV"):
        live.write(b"\x01\x00" * 100)  # one read's frames: what fits is kept
    assert live.data_bytes == 2**32 - 44 - 2  # the most whole samples a RIFF size can count
    live.abandon()
    live.release()


def test_a_claim_is_taken_once_and_a_lost_response_is_still_ours(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path))
    claim(store, "c", "stream-a")
    claim(store, "c", "stream-a")  # the retry after a lost response meets its own claim
    with pytest.raises(Refused, match="already being recorded"):
        claim(store, "c", "stream-b")


def test_assembling_twice_leaves_one_recording(tmp_path: Path) -> None:
    """A lost response, or two instances recovering the same call: still one object (defects.md #9)."""
    store = LocalStore(str(tmp_path))
    (tmp_path / "segment").write_bytes(b"\x01\x00" * 10)
    store.add_part("twice", 1, 0, tmp_path / "segment")
    first, _ = assemble(store, manifest("twice"))
    store.add_part("twice", 1, 0, tmp_path / "segment")  # as if the delete had been lost
    second, _ = assemble(store, manifest("twice"))
    assert first == second
    assert [p.name for p in tmp_path.rglob("*.wav")] == ["twice.wav"]


def test_a_directory_store_makes_the_directories_it_needs(tmp_path: Path) -> None:
    """Assembling creates directories only when a file cannot be made without them (the hang-up path makes no
    mkdir per call): a call with no audio, into a store with no directory yet, with and without metadata."""
    store = LocalStore(str(tmp_path / "new" / "store"))
    empty = header(RATE, 1, 0)
    store.assemble("silent", empty, {}, "2026/12/01/silent.wav", {"provider": "vonage"})
    store.assemble("bare", empty, {}, "2026/12/02/bare.wav", {})
    assert wav_of(tmp_path / "new" / "store" / "2026/12/01/silent.wav") == (b"", 1, RATE)
    assert wav_of(tmp_path / "new" / "store" / "2026/12/02/bare.wav") == (b"", 1, RATE)
    assert json.loads((tmp_path / "new" / "store" / "2026/12/01/silent.json").read_text()) == {"provider": "vonage"}
    assert not (tmp_path / "new" / "store" / "2026/12/02/bare.json").exists()


def test_a_directory_store_makes_every_file_at_the_calls_start(tmp_path: Path) -> None:
    """Storing only fills in and moves files made when the call began (on ext4 a new inode is the costly step,
    and calls hanging up together are stored one after another): the WAV and its JSON are the inodes that
    prepare_audio made, and removing the parts leaves nothing beside them."""
    store = LocalStore(str(tmp_path / "store"))
    held = store.prepare_audio("early")
    assert held is not None
    audio = tmp_path / "store" / CALLS / "early" / "audio"
    made = {audio.stat().st_ino, (audio.parent / "metadata.json").stat().st_ino}
    store.assemble("early", header(RATE, 1, 0), {}, "2026/12/01/early.wav", {"provider": "vonage"})
    day = tmp_path / "store" / "2026/12/01"
    assert {(day / "early.wav").stat().st_ino, (day / "early.json").stat().st_ino} == made
    assert json.loads((day / "early.json").read_text()) == {"provider": "vonage"}
    store.remove_parts("early", {})
    assert not audio.parent.exists()
    held.close()


def test_a_directory_store_replaces_what_an_earlier_attempt_left(tmp_path: Path) -> None:
    """The metadata's file is filled in, not truncated on opening (ext4 writes out a file truncated to nothing
    when it is closed): a longer content left in it, and a JSON already in place from an attempt that stopped
    before the WAV, both give way to this attempt's metadata, whole."""
    store = LocalStore(str(tmp_path / "store"))
    held = store.prepare_audio("retried")
    assert held is not None
    held.close()
    (tmp_path / "store" / CALLS / "retried" / "metadata.json").write_text(json.dumps({"note": "x" * 500}))
    day = tmp_path / "store" / "2026/12/01"
    day.mkdir(parents=True)
    (day / "retried.json").write_text("{}")
    store.assemble("retried", header(RATE, 1, 0), {}, "2026/12/01/retried.wav", {"provider": "twilio"})
    assert json.loads((day / "retried.json").read_text()) == {"provider": "twilio"}
    assert wav_of(day / "retried.wav") == (b"", 1, RATE)


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


def test_a_failed_local_store_leaves_the_call_to_the_sweeper_as_it_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing waits on a local store, so the final manifest is written (into the lease) only should storing
    fail: then the sweeper stores the call with the metadata it ended with, not as a recovered one, and at once
    (nobody holds its file), not a lease's age later."""
    store = LocalStore(str(tmp_path / "store"))
    live = Recording(store, prepare(str(tmp_path / "spool")), "call-1.stream", manifest(), 2, deadline_s=5)
    live.write(pcm(3))

    def full_disk(*args: Any) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "assemble", full_disk)
    with pytest.raises(OSError, match="No space"):
        live.finish({"provider": "vonage", "end_reason": "connection closed", "duration_s": 3.0})
    live.abandon()  # what the session does then
    live.release()
    monkeypatch.undo()

    assert sweep(tmp_path / "spool", store, lease_s=3600) == 1
    [location] = (tmp_path / "store").rglob("*.wav")
    assert wav_of(location)[0] == pcm(3)
    sidecar = json.loads(location.with_suffix(".json").read_text())
    assert sidecar["end_reason"] == "connection closed" and "recovered" not in sidecar
    assert not (tmp_path / "store" / LEASES / "call-1").exists() and not list((tmp_path / "spool").iterdir())


def test_a_disk_full_at_hang_up_leaves_the_call_to_the_sweeper_without_raising_again(tmp_path: Path) -> None:
    """The last buffered audio cannot be written (the call's file is /dev/full, which refuses every write with
    ENOSPC): finish() raises, and then abandon() and release(), what the session does next, do not, and the
    lease says how the call ended."""
    store = LocalStore(str(tmp_path / "store"))
    parts = tmp_path / "store" / CALLS / "full"
    parts.mkdir(parents=True)
    (parts / "audio").symlink_to("/dev/full")
    live = Recording(store, prepare(str(tmp_path / "spool")), "full", manifest("full"), 2, deadline_s=5)
    live.write(pcm(0.05))  # buffered: the write that fails is the flush at hang-up
    with pytest.raises(OSError, match="No space"):
        live.finish({"provider": "vonage", "end_reason": "connection closed"})
    live.abandon()
    live.release()
    lease = json.loads((tmp_path / "store" / LEASES / "full").read_text())
    assert lease["finished"] is True and lease["metadata"]["end_reason"] == "connection closed"


def test_a_live_local_call_is_never_swept_and_a_dead_workers_is_at_once(tmp_path: Path) -> None:
    """A local store's call holds its file locked instead of a spool directory: a sweep leaves it alone however
    old its lease (here: any lease counts as old), and once its worker is killed (the kernel lets go of the
    lock) the next sweep stores what reached the file, without waiting for the lease to age."""
    store = LocalStore(str(tmp_path / "store"))
    live = recording(tmp_path)
    live.write(pcm(1))
    assert sweep(tmp_path / "spool", store, lease_s=0) == 0
    live.finish({"provider": "vonage"})
    live.clean_up()
    live.release()

    killed = f"""
import os, signal, sys
sys.path.insert(0, {str(ROOT / "recorder")!r})
from recorder.recording import Recording
from recorder.store import LocalStore
manifest = {json.dumps(manifest("killed"))}
live = Recording(LocalStore({str(tmp_path / "store")!r}), None, "killed", manifest, 2, deadline_s=5)
live.write(bytes({len(pcm(2))}))
live._audio.flush()  # what the file object buffered reaches the file; the rest dies with the process
print("recording", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    worker = subprocess.run([sys.executable, "-c", killed], capture_output=True, text=True, timeout=60)
    assert worker.stdout == "recording\n" and worker.returncode == -signal.SIGKILL, worker.stderr
    assert sweep(tmp_path / "spool", store, lease_s=3600) == 1
    [location] = (tmp_path / "store").rglob("killed.wav")
    assert wav_of(location)[0] == bytes(len(pcm(2)))
    assert json.loads(location.with_suffix(".json").read_text())["recovered"] is True


def test_a_long_call_keeps_no_finished_renewal(tmp_path: Path) -> None:
    """On a directory no segment ever closes, and the lease is renewed by keep_alive every segment_s: each
    renewal's greenlet must go once it is done, or a call's memory grows with its length (issue 14: flat)."""
    live = recording(tmp_path)
    for second in range(1, 200, 2):  # 200 s of a call, renewed every 2 s
        live.keep_alive(time.monotonic() + second)
        gevent.sleep(0)  # the renewal runs
    assert len(live._uploads) <= 1
    live.abandon()
    live.release()


def test_a_directory_store_probes_for_what_every_call_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A call's file is locked while it is live and becomes the recording by a hard link: a directory whose file
    system has neither (some network and FUSE mounts) is refused at start-up, by name, and the probe leaves
    nothing behind. No such file system can be mounted here, so the kernel's refusal is stood in for."""
    store = LocalStore(str(tmp_path / "store"))
    assert store.probe() is None
    assert not list((tmp_path / "store").iterdir())

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr("recorder.store.fcntl.flock", no_locks)
    problem = store.probe()
    assert problem is not None and problem.startswith(f"RECORDINGS_DIR={tmp_path / 'store'}: ")
    assert "cannot lock a file or link it (No locks available)" in problem
    assert not list((tmp_path / "store").iterdir())
