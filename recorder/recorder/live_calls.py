"""The calls a worker holds: admission (unauthenticated connections, capacity, spool space, one stream per call),
and ending them early.

A connection is held in two stages. Until its stream presents a valid token for the call it announces, it must
authenticate within `handshake_timeout_s`, and unless its upgrade carried a validly signed token it is a
*stranger*, counted against `max_unauthenticated` (checked before the 101). It never takes one of the
`max_calls` slots, so sockets without a token cannot keep real calls out (defects #6). Once `claim()`ed it is a
call.

One timer per worker (`watch_forever`, every `TICK_S`) ends what is overdue: no handshake in time, a silent peer
(a half-open connection), a call longer than `max_call_seconds`. Ending raises `closing.EndCall` into the call's
greenlet from a hub callback, and only while the call is still receiving: after `storing()` nothing can interrupt
it, so an upload is never cut short (issue 8: the drain's EndCall used to land in the store).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import gevent
from gevent import Greenlet
from gevent.event import Event

from .closing import CloseCode, EndCall, Refused
from .settings import Settings
from .websocket.connection import Connection

log = logging.getLogger("recorder")

EXTENSION = "recorder.live_calls"  # where create_app() keeps the worker's LiveCalls, in Flask's app.extensions
TICK_S = 0.2  # how late an overdue call may be ended: 500 calls cost ~1 ms of CPU a second


@dataclass(eq=False)
class _Held:
    connection: Connection
    since: float  # monotonic
    call_id: str = ""  # "" until authenticated
    stranger: bool = True  # counted against max_unauthenticated
    ending: bool = False


class LiveCalls:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.draining = False
        self._receiving: dict[Greenlet, _Held] = {}
        self._receiving_ids: set[str] = set()  # the call ids in `_receiving`: a claim checks for its own in O(1)
        self._held = 0  # receiving or storing
        self._unauthenticated = 0
        self._calls = 0  # authenticated, receiving or storing
        self._storing = 0  # between storing() and stored()
        self._no_stores = Event()
        self._no_stores.set()

    def upgrade_refusal(self) -> str | None:
        """Why a new connection without a signed token must be refused before its 101 (an HTTP 503), if it must."""
        if self._unauthenticated >= self.settings.max_unauthenticated:
            return f"this worker already has {self.settings.max_unauthenticated} connections awaiting their handshake"
        return None

    @contextmanager
    def holding(self, connection: Connection, vouched: bool) -> Iterator[None]:
        """While the current greenlet holds a connection: counted, and endable until `storing()`. `vouched`: its
        upgrade carried a token with a valid signature, so it does not count as unauthenticated."""
        held = _Held(connection, time.monotonic(), stranger=not vouched)
        self._receiving[gevent.getcurrent()] = held
        self._held += 1
        self._unauthenticated += held.stranger
        try:
            yield
        finally:
            self._stop_receiving()
            self._held -= 1
            if held.call_id:
                self._calls -= 1
            else:
                self._unauthenticated -= held.stranger

    def claim(self, call_id: str) -> None:
        """The current connection has authenticated as `call_id`: admit it as a call, or refuse it."""
        held = self._receiving[gevent.getcurrent()]
        if call_id in self._receiving_ids:
            raise Refused(CloseCode.POLICY_VIOLATION, "this call is already being recorded on another stream")
        if self._calls >= self.settings.max_calls:
            raise Refused(CloseCode.TRY_AGAIN_LATER, f"this worker already holds {self.settings.max_calls} calls")
        free = shutil.disk_usage(self.settings.spool_dir).free
        if free < self.settings.spool_reserve_mb * 2**20:
            raise Refused(CloseCode.TRY_AGAIN_LATER, f"spool has {free // 2**20} MiB free, under its reserve")
        held.call_id = call_id
        self._receiving_ids.add(call_id)
        self._unauthenticated -= held.stranger
        held.stranger = False
        self._calls += 1

    def storing(self) -> None:
        """The current call is past receiving: nothing may interrupt it now, and it is storing until `stored()`.
        Does not switch greenlets."""
        self._stop_receiving()
        self._storing += 1
        self._no_stores.clear()

    def stored(self) -> None:
        """The current call's store is over: stored, or left to the sweeper."""
        self._storing -= 1
        if not self._storing:
            self._no_stores.set()

    def wait_for_stores(self, timeout: float) -> bool:
        """Until no call of this worker is storing, or `timeout` passes; False if it passed."""
        return bool(self._no_stores.wait(timeout))

    def _stop_receiving(self) -> None:
        held = self._receiving.pop(gevent.getcurrent(), None)
        if held is not None and held.call_id:
            self._receiving_ids.discard(held.call_id)

    def end(self, greenlet: Greenlet, code: CloseCode, reason: str) -> None:
        held = self._receiving.get(greenlet)
        if held is not None and not held.ending:
            held.ending = True
            gevent.get_hub().loop.run_callback(self._throw, greenlet, EndCall(code, reason))

    def _throw(self, greenlet: Greenlet, end: EndCall) -> None:
        if greenlet in self._receiving:  # checked again in the hub: it may have started storing meanwhile
            greenlet.throw(end)

    def watch_forever(self) -> None:
        """The worker's one timer. It must never die: without it no deadline is kept."""
        while True:
            gevent.sleep(TICK_S)
            try:
                self._end_overdue(time.monotonic())
            except Exception:
                log.exception("ending overdue calls failed; trying again next tick")

    def _end_overdue(self, now: float) -> None:
        for greenlet, held in list(self._receiving.items()):
            overdue = self._overdue(held, now)
            if overdue:
                self.end(greenlet, *overdue)

    def _overdue(self, held: _Held, now: float) -> tuple[CloseCode, str] | None:
        settings = self.settings
        if not held.call_id and now - held.since >= settings.handshake_timeout_s:
            return CloseCode.POLICY_VIOLATION, f"no authorised call handshake within {settings.handshake_timeout_s:g} s"
        if now - held.connection.last_received_at >= settings.read_timeout_s:
            return CloseCode.GOING_AWAY, f"no message for {settings.read_timeout_s} s: connection dropped"
        if now - held.since >= settings.max_call_seconds:
            return CloseCode.POLICY_VIOLATION, f"call longer than {settings.max_call_seconds} s"
        return None

    def drain(self, timeout: float) -> int:
        """End every call, and wait until all are stored or `timeout` passes; return how many are left."""
        self.draining = True
        for greenlet in list(self._receiving):
            self.end(greenlet, CloseCode.GOING_AWAY, "the recorder is shutting down")
        deadline = time.monotonic() + timeout
        while self._held and time.monotonic() < deadline:
            gevent.sleep(0.05)
        return self._held


def live_calls(app: Any) -> LiveCalls | None:
    """The LiveCalls of the app gunicorn loaded, for its worker."""
    calls = getattr(app, "extensions", {}).get(EXTENSION)
    return calls if isinstance(calls, LiveCalls) else None
