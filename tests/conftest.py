"""Real parts for the integration tests: a Cloud Storage emulator, the recorder under gunicorn, the function.

Everything listens on 127.0.0.1 on free ports and is stopped by the fixtures themselves.
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import devstack
from devstack import GcsEmulator, free_port
from recorder.session import safe_name

BUCKET = "recordings-test"


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class Recording:
    pcm: bytes
    channels: int
    sample_rate: int
    metadata: dict[str, str]
    name: str


def parse_wav(data: bytes) -> tuple[bytes, int, int]:
    with wave.open(io.BytesIO(data), "rb") as wav:
        return wav.readframes(wav.getnframes()), wav.getnchannels(), wav.getframerate()


@dataclass
class Stack:
    """A running recorder (and the functions in front of it), plus ways to look at what it stored."""

    recorder_port: int
    recorder_log: Path
    spool_dir: Path
    recordings_dir: Path | None = None
    gcs: GcsEmulator | None = None
    function_ports: dict[int, int] = field(default_factory=dict)  # sample rate -> port
    recorder: subprocess.Popen[bytes] | None = None  # gunicorn's master process

    @property
    def recorder_url(self) -> str:
        return f"ws://127.0.0.1:{self.recorder_port}"

    def answer_url(self, provider: str = "vonage", rate: int = 16000) -> str:
        return f"http://127.0.0.1:{self.function_ports[rate]}/{provider}/answer"

    def logs(self) -> list[dict[str, Any]]:
        lines = self.recorder_log.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def logs_for(self, call_id: str) -> list[dict[str, Any]]:
        return [entry for entry in self.logs() if entry.get("call_id") == call_id]

    def find(self, call_id: str) -> Recording | None:
        call_id = safe_name(call_id)  # as the recorder names its objects
        if self.gcs is not None:
            bucket = self.gcs.client().bucket(BUCKET)
            for blob in bucket.list_blobs():
                if blob.name.endswith(f"/{call_id}.wav"):
                    pcm, channels, rate = parse_wav(blob.download_as_bytes())
                    return Recording(pcm, channels, rate, dict(blob.metadata or {}), blob.name)
            return None
        assert self.recordings_dir is not None
        for path in self.recordings_dir.glob(f"*/*/*/{call_id}.wav"):
            if not path.with_suffix(".json").exists():
                return None  # LocalStore links the WAV, then writes its metadata: not stored yet
            pcm, channels, rate = parse_wav(path.read_bytes())
            metadata = json.loads(path.with_suffix(".json").read_text())
            return Recording(pcm, channels, rate, metadata, str(path.relative_to(self.recordings_dir)))
        return None

    def stored(self, call_id: str, timeout: float = 20.0) -> Recording:
        recording: Recording = wait_for(lambda: self.find(call_id), timeout, f"call {call_id} to be stored")
        return recording

    def spooled(self) -> list[Path]:
        return sorted(self.spool_dir.glob("*.wav"))


@contextmanager
def running_stack(tmp: Path, gcs: GcsEmulator | None, rates: tuple[int, ...] = (16000,), **env: str) -> Iterator[Stack]:
    tmp.mkdir(parents=True, exist_ok=True)
    stack = Stack(free_port(), tmp / "recorder.log", Path(env.get("SPOOL_DIR", tmp / "spool")), gcs=gcs)
    stack.spool_dir.mkdir(exist_ok=True)
    overrides = {"SPOOL_DIR": str(stack.spool_dir), "HANDSHAKE_TIMEOUT_S": "2", **env}
    if gcs:
        overrides.update(RECORDINGS_BUCKET=BUCKET, STORAGE_EMULATOR_HOST=gcs.url)
    else:
        stack.recordings_dir = tmp / "recordings"
        overrides["RECORDINGS_DIR"] = str(stack.recordings_dir)
    with ExitStack() as cleanup:
        processes: list[subprocess.Popen[bytes]] = []
        cleanup.callback(devstack.stop, processes)
        base_env = devstack.stack_env(0, stack.recorder_port, overrides)
        log = cleanup.enter_context(stack.recorder_log.open("wb"))
        stack.recorder = devstack.start_recorder(base_env, log)
        processes.append(stack.recorder)
        for rate in rates:
            port = free_port()
            function_log = cleanup.enter_context((tmp / f"function-{rate}.log").open("wb"))
            processes.append(devstack.start_function(port, {**base_env, "SAMPLE_RATE": str(rate)}, function_log))
            stack.function_ports[rate] = port
        devstack.wait_until_listening(stack.recorder_port, processes[0])
        for process, port in zip(processes[1:], stack.function_ports.values(), strict=True):
            devstack.wait_until_listening(port, process)
        yield stack


@pytest.fixture(scope="session")
def gcs() -> Iterator[GcsEmulator]:
    with GcsEmulator(buckets=(BUCKET,)) as emulator:
        yield emulator


def count_logged(stack: Stack, message: str) -> int:
    return sum(entry["message"] == message for entry in stack.logs())


@pytest.fixture(scope="session")
def gcs_stack(gcs: GcsEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("gcs-stack"), gcs, rates=(8000, 16000, 24000)) as stack:
        yield stack


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("local-stack"), None) as stack:
        yield stack


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)
