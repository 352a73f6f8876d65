"""The local stack as a person runs it (`make run`, `python -m devstack`): one actionable line for every
misconfiguration, a banner only once its own processes listen, and Ctrl-C that stores the calls in flight."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support.stack import wait_for
from support.terminal import Terminal

import devstack
from devstack import free_port
from devstack.processes import StackError

ROOT = Path(__file__).resolve().parents[1]
BANNER = "Ctrl-C stops the stack"


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def stack_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        **os.environ,
        "FUNCTION_PORT": str(free_port()),
        "RECORDER_PORT": str(free_port()),
        "RECORDINGS_DIR": str(tmp_path / "recordings"),
        "SPOOL_DIR": str(tmp_path / "spool"),
        **overrides,
    }
    if "RECORDER_SECRET" not in overrides:
        env.pop("RECORDER_SECRET", None)  # the local stack's own development secret
    return env


def devstack_run(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack", *(args or ("run",))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextmanager
def held_port() -> Iterator[int]:
    """A port another program listens on (and answers nothing useful)."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_local_stack_stops_whole_on_a_signal_to_its_group(tmp_path: Path, sig: signal.Signals) -> None:
    env = stack_env(tmp_path)
    function_port, recorder_port = int(env["FUNCTION_PORT"]), int(env["RECORDER_PORT"])
    with (tmp_path / "run.log").open("wb") as log:
        stack = subprocess.Popen(
            [sys.executable, "-m", "devstack", "run"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        try:
            wait_for(lambda: BANNER.encode() in (tmp_path / "run.log").read_bytes(), 30, "the banner")
            assert listening(function_port) and listening(recorder_port)
            os.killpg(stack.pid, sig)  # what a terminal's Ctrl-C, or `kill -TERM -PGID`, does
            assert stack.wait(timeout=20) == 0
            assert not listening(function_port) and not listening(recorder_port)
        finally:
            if stack.poll() is None:
                os.killpg(stack.pid, signal.SIGKILL)
    assert b"Traceback" not in (tmp_path / "run.log").read_bytes()


@pytest.mark.slow
def test_ctrl_c_of_make_run_stores_the_call_in_flight_and_exits_within_the_grace_period(tmp_path: Path) -> None:
    grace = 3
    env = stack_env(tmp_path, GRACE_PERIOD_S=str(grace))
    with Terminal(["make", "--no-print-directory", "run"], cwd=ROOT, env=env) as terminal:
        terminal.wait_for(BANNER, timeout=60)
        call = subprocess.Popen(
            [sys.executable, "-m", "callsim", "--call-id", "in-flight"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            parts = Path(env["RECORDINGS_DIR"]) / ".parts" / "calls"
            wait_for(lambda: list(parts.glob("in-flight/audio")), 20, "the call to be streaming")  # its audio file
            time.sleep(1.0)  # a second of audio in
            pressed = time.monotonic()
            terminal.press_ctrl_c()
            terminal.wait_for_exit(timeout=30)
            took = time.monotonic() - pressed
            output = terminal.output
            simulator, _ = call.communicate(timeout=30)
        finally:
            call.kill()  # only if the test failed before the call ended: never leave it running
            call.wait()
            call.stdout.close()  # type: ignore[union-attr]  # a failed test must not leak it into the next one
    assert took < grace + 1, f"make run took {took:.1f} s to stop:\n{output}"
    assert "Traceback" not in output and "make: ***" not in output, output
    assert "closed with 1001" in simulator, simulator  # ended by the recorder going away, not dropped
    (sidecar,) = Path(env["RECORDINGS_DIR"]).glob("*/*/*/in-flight.json")
    metadata = json.loads(sidecar.read_text())
    assert "shutting down" in str(metadata["end_reason"]) and "recovered" not in metadata
    assert 1.0 <= float(metadata["duration_s"]) < 6.9
    assert not [path for path in Path(env["SPOOL_DIR"]).iterdir() if path.is_dir()]  # stored, not left for later


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("RECORDER_SECRET", "short", "RECORDER_SECRET must be set to at least 32 characters"),
        ("SAMPLE_RATE", "44100", "SAMPLE_RATE must be one of 8000, 16000, 24000"),
        ("MAX_CALLS", "many", "MAX_CALLS must be a whole number"),
        ("GRACE_PERIOD_S", "0", "GRACE_PERIOD_S must be between 1 and 60"),
        ("FUNCTION_PORT", "http", "FUNCTION_PORT must be a port number from 1 to 65535"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it_and_nothing_starts(
    tmp_path: Path, setting: str, value: str, named: str
) -> None:
    env = stack_env(tmp_path, **{setting: value})
    started = devstack_run(env)
    assert started.returncode == 1
    assert started.stdout == ""
    assert len(started.stderr.splitlines()) == 1 and started.stderr.startswith("error: ")
    assert named in started.stderr and "Traceback" not in started.stderr
    if setting != "FUNCTION_PORT":
        assert not listening(int(env["FUNCTION_PORT"])) and not listening(int(env["RECORDER_PORT"]))


@pytest.mark.parametrize("mode", ["run", "demo"])
@pytest.mark.parametrize("setting", ["FUNCTION_PORT", "RECORDER_PORT"])
def test_a_port_in_use_is_named_before_anything_starts(tmp_path: Path, setting: str, mode: str) -> None:
    with held_port() as port:
        started = devstack_run(stack_env(tmp_path, **{setting: str(port)}), mode)
    assert started.returncode == 1
    expected = f"error: port {port} is in use (another `make run`?): stop that, or set {setting} to a free port\n"
    assert started.stderr == expected
    assert "Traceback" not in started.stdout + started.stderr and BANNER not in started.stdout


def test_a_second_make_run_is_refused_and_the_first_keeps_working(tmp_path: Path) -> None:
    env = stack_env(tmp_path)
    with (tmp_path / "first.log").open("wb") as log:
        first = subprocess.Popen([sys.executable, "-m", "devstack", "run"], cwd=ROOT, env=env, stdout=log, stderr=log)
        try:
            wait_for(lambda: BANNER.encode() in (tmp_path / "first.log").read_bytes(), 30, "the first banner")
            second = devstack_run(env)
            assert second.returncode == 1 and "is in use (another `make run`?)" in second.stderr
            assert BANNER not in second.stdout
            recorder = f"http://127.0.0.1:{env['RECORDER_PORT']}/healthz"
            with urllib.request.urlopen(recorder, timeout=5) as response:
                assert response.read() == b"ok"
        finally:
            first.send_signal(signal.SIGTERM)
            assert first.wait(timeout=20) == 0


def test_readiness_needs_the_started_process_itself_to_listen() -> None:
    """Another program answering on the port is not the process we started being ready."""
    with held_port() as port:
        idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            with pytest.raises(StackError, match=f"the idler is not listening on port {port} after 1 s"):
                devstack.wait_until_listening(port, idle, timeout=1, name="the idler")
        finally:
            idle.kill()
            idle.wait()


def test_the_container_command_with_a_bad_setting_logs_one_line_and_exits_1(tmp_path: Path) -> None:
    """gunicorn itself checks the settings before any worker boots: no traceback per boot attempt."""
    env = {**stack_env(tmp_path), "RECORDER_SECRET": "short", "PORT": str(free_port()), "HOST": "127.0.0.1"}
    started = subprocess.run(
        devstack.recorder_command(), cwd=ROOT / "recorder", env=env, capture_output=True, text=True, timeout=30
    )
    assert started.returncode == 1
    errors = [line for line in started.stderr.splitlines() if "[ERROR]" in line]
    assert errors and errors[0].endswith("[ERROR] RECORDER_SECRET must be set to at least 32 characters")
    assert len(errors) == 1 and "Traceback" not in started.stderr and "Booting worker" not in started.stderr


@pytest.mark.slow
def test_make_demo_at_8_khz_places_a_call_and_says_what_was_stored_where(tmp_path: Path) -> None:
    """SAMPLE_RATE=8000: the demo streams the 8 kHz sample, as the NCCO asks, rather than failing on a mismatch."""
    demo = devstack_run(stack_env(tmp_path, SAMPLE_RATE="8000"), "demo")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Traceback" not in demo.stderr
    match = re.search(r"^stored 6\.91 s, 8000 Hz mono: (\S+)\nmetadata: (\S+)$", demo.stdout, flags=re.MULTILINE)
    assert match, demo.stdout
    assert Path(match[1]).is_file() and json.loads(Path(match[2]).read_text())["dtmf"] is not None
    assert Path(match[1]).is_relative_to(tmp_path / "recordings")
