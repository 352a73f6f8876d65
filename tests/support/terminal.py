"""A command run in a pseudo-terminal of its own, so that Ctrl-C is the real thing: the terminal sends SIGINT
to its whole foreground process group, as it does to `make run` and everything make started."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import subprocess
import termios
import time
from collections.abc import Mapping
from pathlib import Path


class Terminal:
    def __init__(self, command: list[str], cwd: Path, env: Mapping[str, str]) -> None:
        self.command, self.cwd, self.env = command, cwd, dict(env)
        self.output = ""
        self._master = -1
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Terminal:
        self._master, slave = pty.openpty()
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,  # a session of its own, whose controlling terminal this is
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        os.close(self._master)

    def _read(self, timeout: float) -> bytes | None:
        """What the terminal shows within `timeout`: None if nothing yet, b"" once nothing more can come."""
        ready, _, _ = select.select([self._master], [], [], timeout)
        if not ready:
            return None
        try:
            data = os.read(self._master, 65536)
        except OSError:  # EIO: every process holding the terminal has closed it
            return b""
        self.output += data.decode(errors="replace")
        return data

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if time.monotonic() > deadline or self._read(0.1) == b"":
                raise AssertionError(f"no {text!r} within {timeout:.0f} s; the terminal shows:\n{self.output}")

    def press_ctrl_c(self) -> None:
        os.write(self._master, b"\x03")  # the line discipline turns it into SIGINT to the foreground group

    def wait_for_exit(self, timeout: float) -> int:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.05)
        while self._read(0.05):
            pass  # what it printed last
        return self.process.wait(max(0.0, deadline - time.monotonic()))
