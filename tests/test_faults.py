"""Nothing received is lost: the real recorder under signals, a dead storage emulator, vanished peers."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
from support.rawws import RawClient
from support.stack import BUCKET, count_logged, run, running_stack, wait_for
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from callsim import vonage
from callsim.audio import Pcm, read_wav, sample
from devstack import GcsEmulator

pytestmark = pytest.mark.slow


def long_audio(seconds: float, rate: int = 16000) -> Pcm:
    speech = read_wav(sample(rate))
    return Pcm((speech.data * (int(seconds / speech.duration_s) + 1))[: int(seconds * rate) * 2], rate)


def connected_message(endpoint: dict[str, object]) -> str:
    return json.dumps({"event": "websocket:connected", "content-type": endpoint["content-type"], **endpoint["headers"]})  # type: ignore[dict-item]


def test_a_half_open_connection_is_ended_after_the_read_timeout_and_stored(tmp_path: Path) -> None:
    with running_stack(tmp_path, None, READ_TIMEOUT_S="2") as stack:
        audio = read_wav(sample(16000))
        endpoint = vonage.websocket_endpoint(vonage.fetch_ncco(stack.answer_url(), "half-open", "1", "2"))

        async def go_silent() -> int | None:
            async with connect(endpoint["uri"]) as ws:
                await ws.send(connected_message(endpoint))
                for frame in audio.frames()[:50]:
                    await ws.send(frame)
                # Nothing more, and no close: the recorder must give up on its own.
                await asyncio.wait_for(ws.wait_closed(), timeout=15)
                return ws.close_code

        started = time.monotonic()
        assert run(go_silent()) == 1001
        assert 2 <= time.monotonic() - started < 10
        recording = stack.stored("half-open")
        assert recording.pcm == audio.data[: 50 * 640]
        assert "no message for 2 s" in recording.metadata["end_reason"]


def test_sigterm_stores_all_fifty_calls_in_flight_and_exits_0(tmp_path: Path, gcs: GcsEmulator) -> None:
    with running_stack(tmp_path, gcs) as stack:
        audio = long_audio(30)
        assert stack.recorder is not None

        async def fifty_then_sigterm() -> list[vonage.CallResult]:
            calls = [
                asyncio.create_task(vonage.call(stack.answer_url(), audio, call_id=f"term-{n:02d}")) for n in range(50)
            ]
            while count_logged(stack, "call started") < 50:
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # a second of audio in every call
            stack.recorder.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
            return await asyncio.gather(*calls)

        results = run(fifty_then_sigterm())
        assert stack.recorder.wait(timeout=15) == 0
        for result in results:
            assert result.close_code == 1001
            recording = stack.stored(result.call_id)
            assert len(recording.pcm) >= 16000  # half a second at least: every call had a second before SIGTERM
            assert recording.pcm == audio.data[: len(recording.pcm)]  # exactly what was sent, in order
            assert recording.metadata["end_reason"] == "the recorder is shutting down"
        assert stack.spooled() == []


def test_new_streams_get_503_while_the_recorder_drains(tmp_path: Path) -> None:
    with running_stack(tmp_path, None) as stack:
        assert stack.recorder is not None
        endpoint = vonage.websocket_endpoint(vonage.fetch_ncco(stack.answer_url(), "stubborn", "1", "2"))
        uri = urlsplit(endpoint["uri"])
        # A client that never answers our close frame keeps the drain busy for a moment (RFC 6455 7.1.1 wait).
        stubborn = RawClient(stack.recorder_port, f"{uri.path}?{uri.query}")
        stubborn.text(connected_message(endpoint))
        stubborn.binary(b"\x01\x00" * 320)
        wait_for(lambda: count_logged(stack, "call started") == 1, what="the call to start")
        stack.recorder.send_signal(signal.SIGTERM)

        async def upgrade_status() -> int:
            try:
                async with connect(f"{stack.recorder_url}/ws/vonage"):
                    return 101
            except InvalidStatus as refused:
                return refused.response.status_code

        assert wait_for(lambda: run(upgrade_status()) == 503, timeout=5, what="a 503")
        assert stack.recorder.wait(timeout=15) == 0
        stubborn.close()
        assert stack.stored("stubborn").pcm == b"\x01\x00" * 320


def test_calls_of_a_killed_recorder_are_recovered_at_the_next_start(tmp_path: Path, gcs: GcsEmulator) -> None:
    spool = tmp_path / "shared-spool"
    audio = long_audio(20)
    with running_stack(tmp_path / "first", gcs, SPOOL_DIR=str(spool)) as stack:
        assert stack.recorder is not None

        async def five_then_kill() -> None:
            calls = [
                asyncio.create_task(vonage.call(stack.answer_url(), audio, call_id=f"killed-{n}")) for n in range(5)
            ]
            while count_logged(stack, "call started") < 5:
                await asyncio.sleep(0.1)
            await asyncio.sleep(7.0)  # 7 s of audio, all of it still in the spool's first 10 s segment
            master = psutil.Process(stack.recorder.pid)  # type: ignore[union-attr]
            for process in [*master.children(), master]:
                process.kill()  # SIGKILL: no finally blocks, no flush
            await asyncio.gather(*calls, return_exceptions=True)

        run(five_then_kill())
        assert len([path for path in spool.iterdir() if path.is_dir()]) == 5
        assert all(stack.find(f"killed-{n}") is None for n in range(5))

    with running_stack(tmp_path / "second", gcs, SPOOL_DIR=str(spool)) as restarted:
        for n in range(5):
            recording = restarted.stored(f"killed-{n}")
            assert recording.metadata["recovered"] == "true"
            assert len(recording.pcm) >= 6 * 16000 * 2  # all that reached the page cache: all but a write buffer
            assert recording.pcm == audio.data[: len(recording.pcm)]
            assert float(recording.metadata["duration_s"]) == len(recording.pcm) / 2 / 16000
        wait_for(lambda: not list(spool.iterdir()), what="the spool to empty")


def test_a_storage_outage_loses_nothing(tmp_path: Path) -> None:
    emulator = GcsEmulator(buckets=(BUCKET,), root=tmp_path / "gcs")
    with emulator, running_stack(tmp_path, emulator, UPLOAD_DEADLINE_S="3", SWEEP_INTERVAL_S="2") as stack:
        audio = read_wav(sample(16000))

        async def calls_during_outage() -> list[vonage.CallResult]:
            calls = [
                asyncio.create_task(vonage.call(stack.answer_url(), audio, speed=2, call_id=f"outage-{n}"))
                for n in range(4)
            ]
            while count_logged(stack, "call started") < 4:
                await asyncio.sleep(0.05)
            emulator.stop()  # storage goes away while the calls are still streaming
            return await asyncio.gather(*calls)

        run(calls_during_outage())
        wait_for(
            lambda: count_logged(stack, "storing failed; kept in the spool for retry") == 4,
            timeout=30,
            what="the uploads to give up",
        )
        assert len(stack.spooled()) == 4
        time.sleep(20)
        emulator.start()
        for n in range(4):
            recording = stack.stored(f"outage-{n}", timeout=30)
            assert recording.pcm == audio.data  # CRC32C-checked on upload
            assert recording.metadata["end_reason"] == "connection closed"
        wait_for(lambda: stack.spooled() == [], what="the spool to empty")


def test_new_calls_are_refused_when_the_spool_is_nearly_full(tmp_path: Path) -> None:
    with running_stack(tmp_path, None, SPOOL_RESERVE_MB="10000000") as stack:
        result = run(vonage.call(stack.answer_url(), read_wav(sample(16000)), speed=0, call_id="no-room"))
        assert result.close_code == 1013
        assert [e for e in stack.logs() if "under its reserve" in e["message"]]
        assert stack.find("no-room") is None


def test_a_worker_refuses_calls_beyond_max_calls(tmp_path: Path) -> None:
    with running_stack(tmp_path, None, MAX_CALLS="1") as stack:
        audio = read_wav(sample(16000))

        async def two() -> tuple[vonage.CallResult, vonage.CallResult]:
            first = asyncio.create_task(vonage.call(stack.answer_url(), audio, speed=2, call_id="first"))
            while count_logged(stack, "call started") < 1:
                await asyncio.sleep(0.05)
            second = await vonage.call(stack.answer_url(), audio, speed=0, call_id="second")
            return await first, second

        first, second = run(two())
        assert second.close_code == 1013
        assert stack.stored("first").pcm == audio.data
        assert stack.find("second") is None


def test_sigterm_during_a_storage_outage_exits_in_time_and_the_next_start_stores_everything(tmp_path: Path) -> None:
    """Storage is down when the shutdown comes: the recorder still exits within its grace period, every call stays
    in the spool (nothing received is dropped), and the next start on the same spool stores them all."""
    emulator = GcsEmulator(buckets=(BUCKET,), root=tmp_path / "gcs")
    spool = tmp_path / "spool"
    audio = long_audio(20)
    with emulator:
        env = {"SPOOL_DIR": str(spool), "GRACE_PERIOD_S": "3", "UPLOAD_DEADLINE_S": "60", "SWEEP_INTERVAL_S": "1"}
        with running_stack(tmp_path / "first", emulator, **env) as stack:
            assert stack.recorder is not None

            async def calls_then_outage_then_sigterm() -> float:
                calls = [
                    asyncio.create_task(vonage.call(stack.answer_url(), audio, call_id=f"outage-term-{n}"))
                    for n in range(4)
                ]
                while count_logged(stack, "call started") < 4:
                    await asyncio.sleep(0.05)
                await asyncio.sleep(1.0)
                emulator.stop()
                await asyncio.sleep(1.0)
                stack.recorder.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
                sent_at = time.monotonic()
                await asyncio.gather(*calls, return_exceptions=True)
                return sent_at

            sent_at = run(calls_then_outage_then_sigterm())
            assert stack.recorder.wait(timeout=15) == 0
            assert time.monotonic() - sent_at < 3 + 3  # the grace period, and gunicorn's second, with slack
            assert len(stack.spooled()) == 4  # kept: the calls' audio never reached the store
        emulator.start()
        with running_stack(tmp_path / "second", emulator, **env) as restarted:
            for n in range(4):
                recording = restarted.stored(f"outage-term-{n}", timeout=30)
                assert len(recording.pcm) >= 2 * 16000 * 2  # the two seconds before SIGTERM at least
                assert recording.pcm == audio.data[: len(recording.pcm)]
                assert recording.metadata["end_reason"] == "the recorder is shutting down"
                assert "recovered" not in recording.metadata  # it had finished: only its upload waited
            wait_for(lambda: restarted.spooled() == [], what="the spool to empty")
