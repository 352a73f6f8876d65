"""The local stack's processes: the answer function and the recorder, started as the deployment runs them.

Each runs in its own process group, so that a terminal's Ctrl-C reaches only `python -m devstack`, which then
stops them the way Cloud Run does (SIGTERM: the recorder ends and stores its calls in flight), rather than every
process getting SIGINT at once (gunicorn's quick shutdown, which drops the calls).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import psutil

ROOT = Path(__file__).resolve().parents[1]
# Only for the local stack: deployments get a random secret from Terraform (infra/secret.tf).
LOCAL_SECRET = "local-development-secret-never-deployed"

# Each component's own settings check, run as it will run (from its folder), so that devstack imports neither.
_SETTINGS_CHECK = """import sys
from {module} import Settings, SettingsError
try:
    settings = Settings.from_env()
except SettingsError as error:
    sys.exit(str(error))
{probe}"""
# The recorder's storage, probed as the recorder does at start-up (recorder/gunicorn.conf.py).
_STORE_PROBE = """from recorder.store import store_for
sys.exit(store_for(settings.bucket, settings.recordings_dir).probe())
"""


class StackError(Exception):
    """Something a person can fix before the stack can run; the message names it and says what to do."""


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


def settings_problems(env: Mapping[str, str]) -> list[str]:
    """What the recorder's and the function's own settings checks say of `env`: one line per problem."""
    checks = [
        subprocess.Popen(
            [sys.executable, "-c", _SETTINGS_CHECK.format(module=module, probe=probe)],
            cwd=ROOT / folder,
            env=dict(env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for folder, module, probe in (
            ("recorder", "recorder.settings", _STORE_PROBE),
            ("functions", "webhook.settings", ""),
        )
    ]
    problems: list[str] = []
    for check in checks:
        _, stderr = check.communicate()
        message = stderr.decode(errors="replace").strip()
        if check.returncode and message not in problems:
            problems.append(message)
    return problems


def port_setting(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "") or str(default)
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise StackError(f"{name} must be a port number from 1 to 65535, not {raw!r}")
    return int(raw)


def check_port_free(port: int, setting: str) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds: TIME_WAIT is no owner
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise StackError(
                f"port {port} is in use (another `make run`?): stop that, or set {setting} to a free port"
            ) from None


def _start(command: list[str], cwd: Path, env: Mapping[str, str], output: IO[bytes] | None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=output, stderr=output, process_group=0
    )


def start_recorder(env: Mapping[str, str], output: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    """Output goes to `output` (a log file in tests), or to this terminal."""
    return _start(recorder_command(), ROOT / "recorder", env, output)


def start_function(port: int, env: Mapping[str, str], output: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    return _start(function_command(port), ROOT / "functions", env, output)


def listens(process: subprocess.Popen[bytes], port: int) -> bool:
    """Whether `process` or one of its children (gunicorn's listening socket is its master's) listens on `port`."""
    try:
        parent = psutil.Process(process.pid)
        for member in (parent, *parent.children(recursive=True)):
            for connection in member.net_connections(kind="tcp"):
                if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
                    return True
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return False


def wait_until_listening(
    port: int, process: subprocess.Popen[bytes], timeout: float = 30.0, name: str | None = None
) -> None:
    """Until `process` itself listens on `port`: another program answering there does not count."""
    name = name or f"process {process.pid}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{name} exited with code {process.returncode} before listening on port {port}")
        if listens(process, port):
            return
        time.sleep(0.1)
    raise StackError(f"{name} is not listening on port {port} after {timeout:.0f} s")


def stop(processes: list[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
    """SIGTERM to each (the recorder stores its calls in flight), then SIGKILL to what is left after `timeout` s."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill_group(process)
            process.wait()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the process and, when it leads its own group as ours do, its workers too."""
    try:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except ProcessLookupError:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
