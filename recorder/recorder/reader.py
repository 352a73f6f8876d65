"""Reads a call's WebSocket messages: batched socket reads, RFC 6455 framing, the recorder's size limits.

Batching: a call sends a 20 ms frame at a time. Reading each as it lands costs an event-loop wakeup, a greenlet
switch and a failed-then-retried recv per frame: ~35 us, six times what parsing and recording the frame cost,
and what capped one worker at ~350 concurrent calls. Pausing `pause_s` whenever the buffer runs dry lets a few
frames queue in the kernel, then takes them all with one recv. Audio is delayed by at most the pause.

Framing replaces gevent-websocket's reader, which built a Header object per frame, unmasked in a pure-Python
loop (~54 us per 640-byte frame) and validated UTF-8 with a Python state machine; sending (pongs, close frames)
stays gevent-websocket's. Every problem is one `ProtocolError` with its close code.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import gevent
from websockets.speedups import apply_mask

from .closing import CloseCode, ProtocolError

RECV_SIZE = 65536
_FIN, _RESERVED, _OPCODE, _MASKED, _LENGTH = 0x80, 0x70, 0x0F, 0x80, 0x7F
_CONTINUATION, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_UINT16, _UINT64 = struct.Struct("!H"), struct.Struct("!Q")


class _EndOfStream(Exception):
    pass


class MessageReader:
    def __init__(self, ws: Any, pause_s: float, max_message_bytes: int, max_text_bytes: int) -> None:
        self._ws = ws
        self._sock: socket.socket = ws.handler.socket
        self._pause_s = pause_s
        self._limits = {_BINARY: max_message_bytes, _TEXT: max_text_bytes}
        self._buffer = bytearray(_take_buffered(ws.handler))
        self._offset = 0
        self._drained = True  # the last recv took everything the kernel had

    def receive(self) -> str | bytes | None:
        """The next text (str) or binary (bytes) message; None once the peer closed or the connection died."""
        try:
            return self._message()
        except (_EndOfStream, OSError):
            return None

    def _message(self) -> str | bytes | None:
        opcode, parts, size = None, [], 0
        while True:
            first, second = self._read(2)
            if first & _RESERVED:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "reserved bits set without a negotiated extension")
            if not second & _MASKED:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "client frames must be masked (RFC 6455 section 5.1)")
            frame_opcode, length = first & _OPCODE, second & _LENGTH
            if length == 126:
                length = _UINT16.unpack(self._read(2))[0]
            elif length == 127:
                length = _UINT64.unpack(self._read(8))[0]
            if frame_opcode >= _CLOSE:
                if length > 125 or not first & _FIN:
                    raise ProtocolError(CloseCode.PROTOCOL_ERROR, "control frames must be final and at most 125 bytes")
            elif frame_opcode in (_TEXT, _BINARY):
                if opcode is not None:
                    raise ProtocolError(
                        CloseCode.PROTOCOL_ERROR, "a new message began before the previous one finished"
                    )
                opcode = frame_opcode
            elif frame_opcode != _CONTINUATION or opcode is None:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"unexpected opcode {frame_opcode}")
            if opcode is not None and frame_opcode < _CLOSE:
                size += length
                if size > self._limits[opcode]:  # refuse before reading it
                    kind = "text" if opcode == _TEXT else "binary"
                    raise ProtocolError(CloseCode.MESSAGE_TOO_BIG, f"{kind} message over {self._limits[opcode]} bytes")
            mask = self._read(4)
            payload = apply_mask(self._read(length), mask) if length else b""

            if frame_opcode == _CLOSE:
                self._ws.handle_close(None, payload)
                return None
            if frame_opcode == _PING:
                self._ws.handle_ping(None, payload)
                continue
            if frame_opcode == _PONG:
                continue
            parts.append(payload)
            if first & _FIN:
                break
        message = parts[0] if len(parts) == 1 else b"".join(parts)
        if opcode == _BINARY:
            return message
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(CloseCode.INVALID_PAYLOAD, "text message is not valid UTF-8") from None

    def _read(self, size: int) -> bytes:
        while len(self._buffer) - self._offset < size:
            self._fill()
        start = self._offset
        self._offset += size
        return bytes(self._buffer[start : self._offset])

    def _fill(self) -> None:
        if self._offset:
            del self._buffer[: self._offset]
            self._offset = 0
        if self._drained and self._pause_s:
            gevent.sleep(self._pause_s)
        chunk = self._sock.recv(RECV_SIZE)
        if not chunk:
            raise _EndOfStream
        self._drained = len(chunk) < RECV_SIZE
        self._buffer += chunk


def _take_buffered(handler: Any) -> bytes:
    """Whatever the HTTP reader had buffered past the upgrade request: nothing from a client that waits for our
    101, as RFC 6455 section 4.1 requires, but never lose a byte."""
    sock, rfile = handler.socket, handler.rfile
    sock.settimeout(0)  # peek without blocking
    buffered = bytes(rfile.peek(0) or b"")
    rfile.read(len(buffered))
    sock.settimeout(None)
    return buffered
