"""`make run`'s stack stops whole on Ctrl-C or SIGTERM to its process group, as the issue asks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port, wait_for

import devstack

ROOT = Path(__file__).resolve().parents[1]


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_local_stack_stops_whole_on_a_signal_to_its_group(tmp_path: Path, sig: signal.Signals) -> None:
    function_port, recorder_port = free_port(), free_port()
    env = {
        **os.environ,
        "FUNCTION_PORT": str(function_port),
        "RECORDER_PORT": str(recorder_port),
        "RECORDINGS_DIR": str(tmp_path),
        "SPOOL_DIR": str(tmp_path / "spool"),
    }
    with (tmp_path / "run.log").open("wb") as log:
        stack = subprocess.Popen(
            [sys.executable, "-m", "devstack", "run"], cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
        )
        try:
            devstack.wait_until_listening(function_port, stack)
            devstack.wait_until_listening(recorder_port, stack)
            wait_for(lambda: b"Ctrl-C stops the stack" in (tmp_path / "run.log").read_bytes(), what="the banner")
            os.killpg(stack.pid, sig)  # what a terminal's Ctrl-C, or `kill -TERM -PGID`, does
            assert stack.wait(timeout=20) == 0
            assert not listening(function_port) and not listening(recorder_port)
        finally:
            if stack.poll() is None:
                os.killpg(stack.pid, signal.SIGKILL)
