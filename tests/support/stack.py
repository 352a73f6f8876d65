"""The local stack as the integration tests run it: the recorder under gunicorn, the function per sample rate,
optionally the Cloud Storage emulator, and ways to look at what the recorder stored.

Everything listens on 127.0.0.1 on free ports and is stopped when `running_stack` exits.
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

import devstack
from devstack import GcsEmulator, free_port
from recorder.recording import safe_name

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
            pcm, channels, rate = parse_wav(path.read_bytes())
            metadata = json.loads(path.with_suffix(".json").read_text())
            return Recording(pcm, channels, rate, metadata, str(path.relative_to(self.recordings_dir)))
        return None

    def stored(self, call_id: str, timeout: float = 20.0) -> Recording:
        recording: Recording = wait_for(lambda: self.find(call_id), timeout, f"call {call_id} to be stored")
        return recording

    def spooled(self) -> list[Path]:
        """The calls whose audio is still (partly) in the spool: one directory each."""
        return sorted(path for path in self.spool_dir.iterdir() if path.is_dir())

    def parts(self) -> list[str]:
        """What the store holds besides recordings (README: "What is in the bucket"), claims aside."""
        if self.gcs is not None:
            names = [blob.name for blob in self.gcs.client().bucket(BUCKET).list_blobs(prefix=".parts/")]
        else:
            assert self.recordings_dir is not None
            root = self.recordings_dir / ".parts"
            names = [p.relative_to(self.recordings_dir).as_posix() for p in root.rglob("*") if p.is_file()]
        return sorted(name for name in names if not name.startswith(".parts/claims/"))


@contextmanager
def running_stack(tmp: Path, gcs: GcsEmulator | None, rates: tuple[int, ...] = (16000,), **env: str) -> Iterator[Stack]:
    tmp.mkdir(parents=True, exist_ok=True)
    stack = Stack(free_port(), tmp / "recorder.log", Path(env.get("SPOOL_DIR", tmp / "spool")), gcs=gcs)
    stack.spool_dir.mkdir(exist_ok=True)
    overrides = {"SPOOL_DIR": str(stack.spool_dir), "HANDSHAKE_TIMEOUT_S": "2"}
    if gcs:
        overrides.update(RECORDINGS_BUCKET=BUCKET, STORAGE_EMULATOR_HOST=gcs.url)
    else:
        stack.recordings_dir = tmp / "recordings"
        overrides["RECORDINGS_DIR"] = str(stack.recordings_dir)
    overrides.update(env)  # a test's own settings win (a proxy in front of the emulator, say)
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


def count_logged(stack: Stack, message: str) -> int:
    return sum(entry["message"] == message for entry in stack.logs())


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)
