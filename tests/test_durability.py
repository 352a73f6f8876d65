"""Issue 8 against the real recorder under gunicorn and fake-gcs-server: the audio is in the store while the call
is live, the spool stays small, and a recorder lost with its spool costs at most the last segment."""

from __future__ import annotations

import asyncio
import shutil
import signal
from pathlib import Path

import psutil
import pytest
from support.lossy_proxy import LossyProxy
from support.stack import BUCKET, Stack, count_logged, run, running_stack, wait_for

from callsim import vonage
from callsim.audio import Pcm, read_wav, sample
from devstack import GcsEmulator

pytestmark = pytest.mark.slow

RATE = 16000
SEGMENT_S = 2
SEGMENT_BYTES = SEGMENT_S * RATE * 2


def long_audio(seconds: float) -> Pcm:
    speech = read_wav(sample(RATE))
    return Pcm((speech.data * (int(seconds / speech.duration_s) + 1))[: int(seconds * RATE) * 2], RATE)


def stored_parts(stack: Stack, call_id: str) -> bytes:
    """The call's segments in the bucket, in order, as a recorder that vanished now would leave them."""
    assert stack.gcs is not None
    bucket = stack.gcs.client().bucket(BUCKET)
    blobs = sorted(bucket.list_blobs(prefix=f".parts/calls/{call_id}/seg-"), key=lambda blob: blob.name)
    return b"".join(blob.download_as_bytes() for blob in blobs)


def spool_bytes(stack: Stack) -> int:
    return sum(path.stat().st_size for path in stack.spool_dir.rglob("seg-*") if path.is_file())


def test_mid_call_the_bucket_holds_the_audio_up_to_a_segment_ago(tmp_path: Path, gcs: GcsEmulator) -> None:
    with running_stack(tmp_path, gcs, SEGMENT_S=str(SEGMENT_S)) as stack:
        audio = long_audio(12)

        async def look_mid_call() -> tuple[float, bytes]:
            call = asyncio.create_task(vonage.call(stack.answer_url(), audio, call_id="mid-call"))
            while count_logged(stack, "call started") < 1:
                await asyncio.sleep(0.05)
            started = asyncio.get_running_loop().time()
            await asyncio.sleep(7.0)
            elapsed = asyncio.get_running_loop().time() - started
            parts = await asyncio.to_thread(stored_parts, stack, "mid-call")
            await call
            return elapsed, parts

        elapsed, parts = run(look_mid_call())
        assert parts == audio.data[: len(parts)]  # the audio so far, in order, byte for byte
        # Everything but the segment being filled (and one in flight) is in the bucket.
        assert len(parts) >= (elapsed - 2 * SEGMENT_S) * RATE * 2
        assert len(parts) % SEGMENT_BYTES == 0
        recording = stack.stored("mid-call")
        assert recording.pcm == audio.data
        # The parts, then the spool, are removed a second after storing (app.py).
        wait_for(lambda: stack.spooled() == [], 10, "the spool to be removed")
        assert stack.parts() == []


@pytest.mark.parametrize("sink", ["gcs", "local"])
def test_the_spool_stays_bounded_during_a_90_second_call(tmp_path: Path, gcs: GcsEmulator, sink: str) -> None:
    with running_stack(tmp_path, gcs if sink == "gcs" else None, SEGMENT_S=str(SEGMENT_S)) as stack:
        audio = long_audio(90)
        peak = 0

        async def watch_the_spool() -> vonage.CallResult:
            nonlocal peak
            call = asyncio.create_task(vonage.call(stack.answer_url(), audio, speed=3, call_id=f"ninety-{sink}"))
            while not call.done():
                peak = max(peak, spool_bytes(stack))
                await asyncio.sleep(0.1)
            return await call

        run(watch_the_spool())
        assert stack.stored(f"ninety-{sink}").pcm == audio.data
        if sink == "gcs":
            assert 0 < peak <= 2 * SEGMENT_BYTES + 64 * 1024  # about two segments, not 90 s (2.9 MB) of audio
        else:
            assert peak == 0  # a directory store takes the audio straight into its own file (store.py)
        # A second after the store (app.py): the parts, and the spool directory a directory store's call has not.
        wait_for(lambda: stack.parts() == [] and stack.spooled() == [], 10, "the parts and the spool to be removed")


def test_a_recorder_lost_with_its_spool_is_recovered_by_another(tmp_path: Path, gcs: GcsEmulator) -> None:
    """SIGKILL every process and delete the spool (a lost Cloud Run instance); a new recorder on the same bucket
    recovers each call from its segments: a bit-exact prefix missing at most the last segment."""
    audio = long_audio(30)
    calls = 5
    with running_stack(tmp_path / "lost", gcs, SEGMENT_S=str(SEGMENT_S)) as stack:
        assert stack.recorder is not None

        async def calls_then_lose_the_instance() -> float:
            tasks = [
                asyncio.create_task(vonage.call(stack.answer_url(), audio, call_id=f"lost-{n}")) for n in range(calls)
            ]
            while count_logged(stack, "call started") < calls:
                await asyncio.sleep(0.05)
            started = asyncio.get_running_loop().time()
            await asyncio.sleep(7.0)
            master = psutil.Process(stack.recorder.pid)  # type: ignore[union-attr]
            for process in [*master.children(), master]:
                process.kill()
            sent_s = asyncio.get_running_loop().time() - started
            await asyncio.gather(*tasks, return_exceptions=True)
            return sent_s

        sent_s = run(calls_then_lose_the_instance())
        shutil.rmtree(stack.spool_dir)
        assert all(stack.find(f"lost-{n}") is None for n in range(calls))

    with running_stack(tmp_path / "other", gcs, SEGMENT_S=str(SEGMENT_S), SWEEP_INTERVAL_S="1") as other:
        lease_s = 3 * SEGMENT_S + 10
        for n in range(calls):
            recording = other.stored(f"lost-{n}", timeout=lease_s + 20)
            assert recording.metadata["recovered"] == "true"
            assert recording.pcm == audio.data[: len(recording.pcm)]
            assert len(recording.pcm) >= (sent_s - SEGMENT_S - 1.5) * RATE * 2
            assert float(recording.metadata["duration_s"]) == len(recording.pcm) / 2 / RATE
            assert recording.metadata["from"] == "15550100001"  # the call's facts, from its manifest
        wait_for(lambda: other.parts() == [], what="the parts to be removed")


@pytest.mark.parametrize("attempt", [1, 2])
def test_sigterm_with_200_calls_loses_none(tmp_path: Path, gcs: GcsEmulator, attempt: int) -> None:
    calls = 200
    with running_stack(tmp_path, gcs, SEGMENT_S=str(SEGMENT_S)) as stack:
        audio = long_audio(30)
        assert stack.recorder is not None

        async def calls_then_sigterm() -> list[vonage.CallResult]:
            tasks = [
                asyncio.create_task(vonage.call(stack.answer_url(), audio, call_id=f"drain-{attempt}-{n:03d}"))
                for n in range(calls)
            ]
            while count_logged(stack, "call started") < calls:
                await asyncio.sleep(0.1)
            await asyncio.sleep(3.0)  # past the first segment in every call
            stack.recorder.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
            return await asyncio.gather(*tasks)

        results = run(calls_then_sigterm())
        assert stack.recorder.wait(timeout=20) == 0
        lost = [result.call_id for result in results if stack.find(result.call_id) is None]
        assert lost == []
        for result in results:
            recording = stack.stored(result.call_id)
            assert recording.pcm == audio.data[: len(recording.pcm)]
            assert len(recording.pcm) >= 2 * RATE * 2
            assert recording.metadata["end_reason"] == "the recorder is shutting down"
        assert stack.spooled() == []
        # The parts, then the spool, are removed a second after storing (app.py).
        wait_for(lambda: stack.spooled() == [], 10, "the spool to be removed")
        assert stack.parts() == []


def test_a_live_call_is_never_recovered_by_another_recorder(tmp_path: Path, gcs: GcsEmulator) -> None:
    """A live call on one recorder is never assembled by another: its lease is fresh."""
    with (
        running_stack(tmp_path / "a", gcs, SEGMENT_S=str(SEGMENT_S)) as owner,
        running_stack(tmp_path / "b", gcs, SEGMENT_S=str(SEGMENT_S), SWEEP_INTERVAL_S="1") as other,
    ):
        audio = long_audio(25)
        run(vonage.call(owner.answer_url(), audio, speed=1, call_id="owned"))  # 25 s: past the lease of 16 s
        assert owner.stored("owned").pcm == audio.data
        assert "recovered" not in owner.stored("owned").metadata
        assert not [e for e in other.logs() if e["message"].startswith("recovered a call")]
        assert [e["call_id"] for e in owner.logs() if e["message"] == "recording stored"] == ["owned"]


@pytest.mark.parametrize(
    ("call_id", "lost"),
    [("lost-segment", b"lost-segment/seg-000001"), ("lost-compose", b"lost-compose.wav/compose")],
    ids=["a segment's upload", "the final compose"],
)
def test_a_lost_upload_response_still_leaves_one_object(
    tmp_path: Path, gcs: GcsEmulator, call_id: str, lost: bytes
) -> None:
    """defects.md #9: the store carried the request out, its answer was lost, the client retried."""
    proxy = LossyProxy(int(gcs.url.rsplit(":", 1)[1]), lose_request_containing=lost)
    try:
        with running_stack(tmp_path, gcs, SEGMENT_S=str(SEGMENT_S), STORAGE_EMULATOR_HOST=proxy.url) as stack:
            audio = long_audio(5)
            run(vonage.call(stack.answer_url(), audio, speed=0, call_id=call_id))
            assert stack.stored(call_id).pcm == audio.data
            assert proxy.lost == 1
            assert stack.gcs is not None
            names = [b.name for b in stack.gcs.client().bucket(BUCKET).list_blobs() if call_id in b.name]
            assert [name for name in names if name.endswith(".wav")] == [stack.stored(call_id).name]
            wait_for(lambda: stack.parts() == [], what="the parts to be removed")
    finally:
        proxy.close()


def test_a_burst_of_hang_ups_shares_the_stores_connections(tmp_path: Path, gcs: GcsEmulator) -> None:
    """Every call of a burst stores through the client's pool of connections: none opened only to be discarded
    (each one a TLS handshake to Cloud Storage), and no urllib3 warning in the log for each."""
    calls = 40
    with running_stack(tmp_path, gcs, SEGMENT_S=str(SEGMENT_S)) as stack:
        audio = long_audio(3)

        async def together() -> list[vonage.CallResult]:
            return await asyncio.gather(
                *(vonage.call(stack.answer_url(), audio, call_id=f"burst-{n:02d}") for n in range(calls))
            )

        for result in run(together()):
            assert stack.stored(result.call_id).pcm == audio.data
        wait_for(lambda: stack.parts() == [], 15, "the parts to be removed")
        assert [e["message"] for e in stack.logs() if "onnection pool" in e["message"]] == []
