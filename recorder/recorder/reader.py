"""The WebSocket's read side, batched: one wakeup collects every frame that arrived in the last few ms.

A call sends a 20 ms frame at a time. Reading each as it lands costs an event-loop wakeup, a greenlet switch
and a failed-then-retried recv per frame: ~35 us, six times what parsing and recording the frame cost, and
what capped one worker at ~350 concurrent calls. Pausing `pause_s` whenever the buffer runs dry lets a few
frames queue in the kernel, then takes them all with one recv. Audio is delayed by at most the pause.
"""

from __future__ import annotations

import socket
from typing import Any

import gevent

RECV_SIZE = 65536


class BatchingReader:
    def __init__(self, sock: socket.socket, buffered: bytes, pause_s: float) -> None:
        self._sock = sock
        self._pause_s = pause_s
        self._buffer = bytearray(buffered)
        self._offset = 0
        self._drained = True  # the last recv took everything the kernel had

    def read(self, size: int) -> bytes:
        """`size` bytes, or fewer only at the end of the stream (as a file's read would)."""
        while len(self._buffer) - self._offset < size:
            if not self._fill():
                size = len(self._buffer) - self._offset
                break
        start = self._offset
        self._offset += size
        return bytes(self._buffer[start : self._offset])

    def _fill(self) -> bool:
        if self._offset:
            del self._buffer[: self._offset]
            self._offset = 0
        if self._drained and self._pause_s:
            gevent.sleep(self._pause_s)
        chunk = self._sock.recv(RECV_SIZE)
        self._drained = len(chunk) < RECV_SIZE
        self._buffer += chunk
        return bool(chunk)


def install(ws: Any, pause_s: float) -> None:
    """Swap gevent-websocket's reads over to a BatchingReader, taking over what the HTTP reader buffered
    (nothing, from a client that waits for our 101 as RFC 6455 section 4.1 requires, but never lose a byte)."""
    sock, rfile = ws.handler.socket, ws.handler.rfile
    sock.settimeout(0)  # peek without blocking
    buffered = rfile.peek(0) if rfile.peek(0) else b""
    rfile.read(len(buffered))
    sock.settimeout(None)
    reader = BatchingReader(sock, buffered, pause_s)
    ws.stream.read = ws.raw_read = reader.read
