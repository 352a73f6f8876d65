"""One call's WebSocket after the 101: batched reads through `frames.Parser`, the frames the server sends, and the
closing handshake.

Batching: a call sends a 20 ms frame at a time. Reading each as it lands costs an event-loop wakeup, a greenlet
switch and a failed-then-retried recv per frame: ~35 us, six times what parsing and recording the frame cost,
and what capped one worker at ~350 concurrent calls. Pausing `pause_s` whenever the buffer runs dry lets a few
frames queue in the kernel, then takes them all with one recv. Audio is delayed by at most the pause. `receive`
hands the messages one read brought in to the session together (one write per read, not one per frame).

The pause is one `Tick` for the whole worker, not a timer per call: every `pause_s` a single libev timer switches
into each paused call's greenlet in turn, and each reads its socket without gevent's wrappers (the descriptor is
non-blocking: an empty buffer is EAGAIN, and the call waits for the next tick). A gevent.sleep per call per
pause cost a timer watcher, a Waiter and two hub round trips each time: most of the worker's wakeup cost.

Batching pays once the worker is busy, so it starts at `BATCH_FROM_CONNECTIONS`: a worker with fewer reads each
frame as it lands, at twice the CPU per frame but under a tenth of a core in all, and takes a call's audio and
its hang-up at once rather than up to a pause later.

Fairness: gevent's recv does not yield while data is waiting, so a peer that keeps the kernel buffer full would
keep this greenlet running for ever (defects #1). Whatever the buffer holds, `receive` yields to the hub after
every `YIELD_FRAMES` frames and before every read that follows a full one (`RECV_SIZE` bytes).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import gevent

from ..closing import ProtocolError
from .frames import PONG, TEXT, Close, Parser, Ping, close_frame, frame

RECV_SIZE = 65536
YIELD_FRAMES = 64
CLOSE_WAIT_BYTES = 2**20  # what we read, at most, while waiting for the peer's close frame
# Below this many connections a worker does not pause: reading each 20 ms frame as it lands costs about 36 us a
# frame against 17 batched (49 calls: 9 % of a core against 4), and 30 calls hanging up at once were stored 3 to
# 6 ms after the hang-up at the median, against 50 to 51 batched (`make bench`, 7 December).
BATCH_FROM_CONNECTIONS = 50


class Tick:
    """Wakes every greenlet waiting on it at once, every `interval_s`: one timer for the worker's paused calls."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._waiting: dict[Any, None] = {}  # greenlets  # in arrival order: calls are woken first come, first served
        self._timer: Any = None
        self.connections = 0  # open, of those made with this pause: whether pausing pays

    @property
    def batching(self) -> bool:
        return self.connections >= BATCH_FROM_CONNECTIONS

    def wait(self) -> None:
        """Pause the current greenlet until the next tick. An exception raised into it meanwhile (a call ended
        from outside, a gevent.Timeout) propagates from here, and the tick forgets it."""
        current = gevent.getcurrent()
        hub = gevent.get_hub()
        if self._timer is None:
            self._timer = hub.loop.timer(self._interval_s, self._interval_s)
        if not self._waiting:
            self._timer.start(self._wake_all)  # ref'd only while someone waits: an idle worker's loop may exit
        self._waiting[current] = None
        try:
            hub.switch()
        finally:
            self._waiting.pop(current, None)

    def _wake_all(self) -> None:
        # In the hub: each switch runs a call until it waits again (here, or on anything else), then comes back.
        waiting, self._waiting = self._waiting, {}
        for greenlet in waiting:
            greenlet.switch()
        if not self._waiting:
            self._timer.stop()


_ticks: dict[float, Tick] = {}


def tick(interval_s: float) -> Tick:
    """The worker's one `Tick` for this interval."""
    if interval_s not in _ticks:
        _ticks[interval_s] = Tick(interval_s)
    return _ticks[interval_s]


class Connection:
    def __init__(self, sock: socket.socket, buffered: bytes, parser: Parser, pause_s: float) -> None:
        self._sock = sock
        self._fd = sock.fileno()
        self._parser = parser
        self._tick = tick(pause_s) if pause_s else None
        if self._tick is not None:
            self._tick.connections += 1  # until close()
        self._drained = True  # the last recv took everything the kernel had
        self._frames = 0  # since we last yielded
        self._ended = False  # EOF, a reset, or a close frame received: nothing more to read
        self._close_sent = False
        self._received = 0  # bytes, since the 101
        self.peer_close: Close | None = None  # the peer's close frame, once received
        self._refused: ProtocolError | None = None  # met after messages that `receive` returned first
        self.last_received_at = time.monotonic()  # read by the worker's timer: a silent peer is a dropped one
        self.taken = False  # by a call's greenlet, which closes it; until then, whoever made it must
        parser.feed(buffered)

    def recv(self) -> str | bytes | None:
        """The next text (str) or binary (bytes) message; None once the peer closed or the connection died."""
        messages = self.receive(limit=1)
        return messages[0] if messages else None

    def receive(self, limit: int = YIELD_FRAMES) -> list[str | bytes]:
        """The text (str) and binary (bytes) messages that have arrived, at least one and at most `limit`: what
        one read brought in, for the session to take in one go. [] once the peer closed or the connection died.
        Answers pings (section 5.5.2). Raises `ProtocolError` for anything RFC 6455 or the limits refuse."""
        if self._refused is not None:
            raise self._refused
        parser = self._parser
        messages: list[str | bytes] = []
        while not self._ended:
            if self._frames >= YIELD_FRAMES:
                if messages:
                    return messages
                # Yield before taking the next frame, never while holding one: a call ended from outside at this
                # switch (the drain) loses no frame, and `waiting()` carries on from exactly here.
                self._frames = 0
                gevent.sleep(0)
            try:
                event = parser.next()
            except ProtocolError as refused:
                if not messages:
                    raise
                self._refused = refused  # raised by the next call: what came before it is recorded first
                return messages
            if event is None:
                if messages:
                    return messages  # all that was read: the session takes them before the next wait
                self._fill()
                continue
            self._frames += 1
            kind = type(event)
            if kind is str or kind is bytes:
                messages.append(event)  # type: ignore[arg-type]
                if len(messages) >= limit:
                    return messages
            elif kind is Ping:
                try:
                    self._send(frame(PONG, event.payload))  # type: ignore[union-attr]
                except OSError:
                    self._ended = True  # the peer is gone: the messages before its ping are still recorded
            elif kind is Close:
                self.peer_close, self._ended = event, True  # type: ignore[assignment]
        return messages

    def _fill(self) -> None:
        tick = self._tick if self._tick is not None and self._tick.batching else None
        if not self._drained:
            gevent.sleep(0)  # more is waiting: take it, but let the other calls run first
        elif tick is not None:
            tick.wait()
        try:
            # Paused: the tick is the wait, and the buffer is read directly. Unpaused: gevent's recv waits for it.
            chunk = os.read(self._fd, RECV_SIZE) if tick is not None else self._sock.recv(RECV_SIZE)
        except BlockingIOError:
            # Nothing arrived since the last tick, or nothing followed a read that took exactly RECV_SIZE: wait
            # for the next tick (a read still marked undrained here used to retry at once, over and over).
            self._drained = True
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._ended = True
            return
        self._drained = len(chunk) < RECV_SIZE
        self._received += len(chunk)
        self.last_received_at = time.monotonic()
        self._parser.feed(chunk)

    def waiting(self) -> Iterator[str | bytes]:
        """The messages already in the kernel's buffer, for a call ended from outside (a drain, the timer) while
        it paused between reads: what the peer sent before we stopped listening is recorded too. Never waits and
        never switches greenlets (os.read on the non-blocking socket, not gevent's recv), at most CLOSE_WAIT_BYTES."""
        taken = 0
        while not self._ended:
            event = self._parser.next()
            if event is None:
                if taken >= CLOSE_WAIT_BYTES:
                    return
                try:
                    chunk = os.read(self._sock.fileno(), RECV_SIZE)
                except OSError:  # BlockingIOError: nothing more is waiting; or the connection is gone
                    return
                if not chunk:
                    self._ended = True
                    return
                taken += len(chunk)
                self._parser.feed(chunk)
            elif type(event) is str or type(event) is bytes:
                yield event
            elif type(event) is Close:
                self.peer_close, self._ended = event, True

    def send_text(self, text: str) -> None:
        self._send(frame(TEXT, text.encode()))

    def send_close(self, code: int, reason: str = "") -> None:
        """Start (or answer) the closing handshake. Never waits: a peer that stopped reading (its window full)
        gets no close frame rather than delaying the store. Never raises: a gone peer has nothing to learn."""
        if self._close_sent:
            return
        self._close_sent = True
        data = close_frame(code, reason)
        try:
            sent = os.write(self._fd, data)  # the descriptor is non-blocking: a full window is EAGAIN
        except OSError:
            sent = 0
        if sent < len(data):
            self._ended = True  # none of it, or part of it: the peer gets no usable close frame, and we stop

    def _send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def close(self, wait_s: float) -> None:
        """Close TCP, once the peer's close frame is in (section 7.1.1: the endpoint that started the closing
        handshake waits for it), or after `wait_s` or `CLOSE_WAIT_BYTES`, whichever comes first. What arrives
        meanwhile goes through the same parser, and is discarded."""
        if wait_s > 0 and not self._ended:
            start = self._received
            with gevent.Timeout(wait_s, False):
                try:
                    while self.recv() is not None and self._received - start < CLOSE_WAIT_BYTES:
                        pass
                except Exception:  # noqa: S110 - garbled or a flood: either way, we are done with this peer
                    pass
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already gone
        self._sock.close()
        if self._tick is not None:
            self._tick.connections -= 1
            self._tick = None
