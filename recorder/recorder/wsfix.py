"""Repairs to gevent-websocket 0.10.1 (unmaintained since 2017), applied once at app creation.

The recorder reads messages itself (reader.py); gevent-websocket still sends pongs and close frames.
1. Unmasking, still used while waiting for the peer's close frame: its pure-Python loop costs ~54 us per
   640-byte frame; websockets' C `apply_mask` well under a microsecond.
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
from geventwebsocket.exceptions import WebSocketError
from geventwebsocket.websocket import Header, WebSocket
from websockets.speedups import apply_mask


def _unmask_payload(self: Header, payload: bytes) -> bytes:
    return apply_mask(payload, self.mask)


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
    Header.mask_payload = Header.unmask_payload = _unmask_payload
    WebSocket.close = _close
    WebSocket.handle_close = _handle_close
