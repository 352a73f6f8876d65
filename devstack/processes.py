"""The local stack's processes: the answer function and the recorder, started as the deployment runs them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
# Only for the local stack: deployments get a random secret from Terraform (infra/secret.tf).
LOCAL_SECRET = "local-development-secret-never-deployed"


def recorder_command() -> list[str]:
    """The container's command line (recorder/Dockerfile), run from recorder/."""
    return [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "recorder.app:create_app()"]


def function_command(port: int) -> list[str]:
    """The Cloud Function's runtime, run from functions/ as the deployed source is."""
    return [
        sys.executable,
        "-m",
        "functions_framework",
        "--source",
        "main.py",
        "--target",
        "webhook",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def stack_env(function_port: int, recorder_port: int, overrides: Mapping[str, str] = {}) -> dict[str, str]:
    env = {**os.environ, "RECORDER_SECRET": os.environ.get("RECORDER_SECRET") or LOCAL_SECRET}
    env.setdefault("RECORDER_URL", f"ws://127.0.0.1:{recorder_port}")
    env.setdefault("RECORDINGS_DIR", str(ROOT / "recordings"))
    env.update({"HOST": "127.0.0.1", "PORT": str(recorder_port), "PYTHONUNBUFFERED": "1"})
    env.update(overrides)
    return env


def start_recorder(env: Mapping[str, str], output: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    """Output goes to `output` (a log file in tests), or to this terminal."""
    return subprocess.Popen(recorder_command(), cwd=ROOT / "recorder", env=dict(env), stdout=output, stderr=output)


def start_function(port: int, env: Mapping[str, str], output: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(function_command(port), cwd=ROOT / "functions", env=dict(env), stdout=output, stderr=output)


def wait_until_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s")


def stop(processes: list[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
