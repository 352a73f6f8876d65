"""The calls a worker holds: admission (capacity, spool space, one stream per call), and ending them early.

A call is ended early (SIGTERM drain, silence, over-long call) by raising `closing.EndCall` into its greenlet while it
waits for the next message; never while it is storing, so an upload is never interrupted.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gevent
from gevent import Greenlet

from .closing import CloseCode, EndCall, Refused

EXTENSION = "recorder.live_calls"  # where create_app() keeps the worker's LiveCalls, in Flask's app.extensions


class LiveCalls:
    def __init__(self, max_calls: int, spool_dir: str, spool_reserve_mb: int) -> None:
        self.max_calls = max_calls
        self.draining = False
        self._spool_dir = spool_dir
        self._reserve_bytes = spool_reserve_mb * 2**20
        self._receiving: dict[Greenlet, str] = {}  # greenlet -> its call id ("" until known)
        self._in_progress = 0  # receiving or storing

    def check_admission(self) -> None:
        """Raise the close code that refuses a new call, if one must be refused."""
        if self.draining:
            raise Refused(CloseCode.GOING_AWAY, "the recorder is shutting down")
        if self._in_progress >= self.max_calls:
            raise Refused(CloseCode.TRY_AGAIN_LATER, f"this worker already holds {self.max_calls} calls")
        free = shutil.disk_usage(self._spool_dir).free
        if free < self._reserve_bytes:
            raise Refused(CloseCode.TRY_AGAIN_LATER, f"spool has {free // 2**20} MiB free, under its reserve")

    @contextmanager
    def holding(self) -> Iterator[None]:
        """While the current greenlet holds a call: counted, and endable until `storing()`."""
        self._in_progress += 1
        self._receiving[gevent.getcurrent()] = ""
        try:
            yield
        finally:
            self._receiving.pop(gevent.getcurrent(), None)
            self._in_progress -= 1

    def claim(self, call_id: str) -> None:
        """One live stream per call: a second one (a replayed token) is refused."""
        if call_id in self._receiving.values():
            raise Refused(CloseCode.POLICY_VIOLATION, "this call is already being recorded on another stream")
        self._receiving[gevent.getcurrent()] = call_id

    def storing(self) -> None:
        """The current call is past receiving: nothing may interrupt it now."""
        self._receiving.pop(gevent.getcurrent(), None)

    def end(self, greenlet: Greenlet, code: CloseCode, reason: str) -> None:
        if greenlet in self._receiving:
            greenlet.kill(EndCall(code, reason), block=False)

    def drain(self, timeout: float) -> int:
        """End every call, and wait until all are stored or `timeout` passes; return how many are left."""
        self.draining = True
        for greenlet in list(self._receiving):
            self.end(greenlet, CloseCode.GOING_AWAY, "the recorder is shutting down")
        deadline = time.monotonic() + timeout
        while self._in_progress and time.monotonic() < deadline:
            gevent.sleep(0.05)
        return self._in_progress


def live_calls(app: Any) -> LiveCalls | None:
    """The LiveCalls of the app gunicorn loaded, for its worker."""
    calls = getattr(app, "extensions", {}).get(EXTENSION)
    return calls if isinstance(calls, LiveCalls) else None
