"""Repairs to gevent-websocket 0.10.1 (unmaintained since 2017), applied once at app creation.

1. Reading: per frame it builds a Header object, unmasks in a pure-Python loop (~54 us per 640-byte frame,
   which alone caps a worker at ~200 concurrent 16 kHz calls), copies the payload into a new bytearray and
   runs a pure-Python UTF-8 state machine. `_read_message` does the same RFC 6455 checks with websockets'
   C `apply_mask` and one `bytes.decode` for text, and returns a single-frame message without copying it.
2. Closing: `WebSocket.close(code, reason)` sends the reason without the status code on Python 3, so the
   peer never learns why (RFC 6455 section 5.5.1: a 2-byte big-endian code, then the reason). It also drops
   the TCP connection at once: with the peer's audio still unread, the kernel answers with a reset and the
   peer never reads our close frame. Section 7.1.1: the endpoint that starts the closing handshake waits for
   the peer's close frame before closing the connection.
"""

from __future__ import annotations

import struct
from typing import Any

import gevent
from geventwebsocket.exceptions import ProtocolError, WebSocketError
from geventwebsocket.websocket import Header, WebSocket
from websockets.speedups import apply_mask

_FIN, _RESERVED, _OPCODE, _MASKED, _LENGTH = 0x80, 0x70, 0x0F, 0x80, 0x7F
_CONTINUATION, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_UINT16, _UINT64 = struct.Struct("!H"), struct.Struct("!Q")


def _unmask_payload(self: Header, payload: bytes) -> bytes:
    return apply_mask(payload, self.mask)


def _read_exactly(read: Any, size: int) -> bytes:
    data: bytes = read(size)
    if len(data) != size:
        raise WebSocketError("unexpected EOF inside a frame")
    return data


def _read_message(self: WebSocket) -> str | bytes | None:
    """The next text (str) or binary (bytes) message; None once a close frame has been handled.

    Errors are raised as gevent-websocket's own: ProtocolError (receive() closes with 1002), UnicodeError
    (1007) and WebSocketError for a dead connection, so `receive()` keeps its contract.
    """
    read = self.stream.read
    opcode = None
    parts: list[bytes] = []
    while True:
        first, second = _read_exactly(read, 2)
        if first & _RESERVED:
            raise ProtocolError("reserved bits set without a negotiated extension")
        frame_opcode, length = first & _OPCODE, second & _LENGTH
        if length == 126:
            length = _UINT16.unpack(_read_exactly(read, 2))[0]
        elif length == 127:
            length = _UINT64.unpack(_read_exactly(read, 8))[0]
        if frame_opcode >= _CLOSE and (length > 125 or not first & _FIN):
            raise ProtocolError("control frames must be final and at most 125 bytes")
        mask = _read_exactly(read, 4) if second & _MASKED else None
        payload = _read_exactly(read, length) if length else b""
        if mask:
            payload = apply_mask(payload, mask)

        if frame_opcode == _CLOSE:
            self.handle_close(None, payload)
            return None
        if frame_opcode == _PING:
            self.handle_ping(None, payload)
            continue
        if frame_opcode == _PONG:
            continue
        if frame_opcode in (_TEXT, _BINARY):
            if opcode is not None:
                raise ProtocolError("a new message began before the previous one finished")
            opcode = frame_opcode
        elif frame_opcode != _CONTINUATION or opcode is None:
            raise ProtocolError(f"unexpected opcode {frame_opcode}")
        parts.append(payload)
        if first & _FIN:
            break
    message = parts[0] if len(parts) == 1 else b"".join(parts)
    return message.decode("utf-8") if opcode == _TEXT else message


def close_payload(code: int, reason: str | bytes = b"") -> bytes:
    reason_bytes = reason.encode() if isinstance(reason, str) else bytes(reason or b"")
    return struct.pack("!H", code) + reason_bytes[:123]  # control frames carry at most 125 bytes


CLOSE_WAIT_S = 2.0  # how long to wait for the peer's close frame after sending ours


def _close(self: WebSocket, code: int = 1000, message: Any = b"") -> None:
    """Start the closing handshake: send our close frame, then read (and discard) until the peer's."""
    if self.closed:
        return
    if _send_close(self, code, message):
        with gevent.Timeout(CLOSE_WAIT_S, False):
            try:
                while self.read_frame()[0].opcode != self.OPCODE_CLOSE:
                    pass
            except Exception:  # noqa: S110 - the peer is gone or garbled: either way we are done
                pass
    _mark_closed(self)


def _handle_close(self: WebSocket, header: Header, payload: bytes) -> None:
    """The peer started the closing handshake: echo its status code (section 5.5.1) and stop."""
    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1000
    _send_close(self, code if 1000 <= code < 5000 else 1002, b"")
    _mark_closed(self)


def _send_close(ws: WebSocket, code: int, reason: Any) -> bool:
    try:
        ws.send_frame(close_payload(code, reason), opcode=ws.OPCODE_CLOSE)
        return True
    except WebSocketError:
        return False  # the peer is gone already: nothing to tell it


def _mark_closed(ws: WebSocket) -> None:
    ws.closed = True
    ws.stream = ws.raw_write = ws.raw_read = ws.environ = None


def apply() -> None:
    Header.mask_payload = Header.unmask_payload = _unmask_payload  # still used by read_frame in _close
    WebSocket.read_message = _read_message
    WebSocket.close = _close
    WebSocket.handle_close = _handle_close
