"""RFC 6455 framing, client to server, sans-I/O: feed it bytes, take messages out, or one `ProtocolError`.

    parser = Parser(max_text=16384, max_binary=65536)
    parser.feed(b"\\x81\\x84\\x00\\xff\\x00\\xff\\x53\\x8f\\x61\\x92")
    parser.next()  # -> "Spam"; None when it needs more bytes

A text message comes out as `str`, a binary one as `bytes`, a ping as `Ping`, the peer's close as `Close`; pongs
are consumed. Every problem is one `ProtocolError` carrying its close code, raised as soon as the header shows
it (an oversized message is refused before its payload arrives). Modelled on websockets' `Frame.parse` plus
`Frame.check` and wsproto's `FrameDecoder`; unlike them it never builds a frame object for a data frame, because
this is the recorder's hot path (one call of `next()` per 20 ms frame).

Flood budget: a peer may send at most `CONTROL_BUDGET` control frames (pings, pongs) and empty data frames in a
row without completing a data message; one more closes the stream with 1008. A provider pings every few
seconds and sends audio every 20 ms, so a legitimate stream never comes near it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from websockets.speedups import apply_mask  # C; gevent-websocket's pure-Python loop cost ~54 us a frame

from ..closing import CloseCode, ProtocolError

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CONTROL_BUDGET = 100
_FIN, _RESERVED, _OPCODE, _MASKED, _LENGTH = 0x80, 0x70, 0x0F, 0x80, 0x7F
_UINT16, _UINT64 = struct.Struct("!H"), struct.Struct("!Q")
# Section 7.4: the codes a peer may send. 1004-1006 and 1015 are reserved or local-only; 1016-2999 are for the
# protocol's future use; 3000-4999 are for libraries and applications. (websockets' EXTERNAL_CLOSE_CODES.)
PEER_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


@dataclass(frozen=True, slots=True)
class Ping:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """The peer's close frame: `code` None when it carried no status code (section 7.1.5: 1005)."""

    code: int | None
    reason: str


Event = str | bytes | Ping | Close


def _fail(reason: str, code: CloseCode = CloseCode.PROTOCOL_ERROR) -> ProtocolError:
    return ProtocolError(code, reason)


class Parser:
    def __init__(self, max_text: int, max_binary: int) -> None:
        self._limits = {TEXT: max_text, BINARY: max_binary}
        self._max_binary = max_binary
        self._buffer: bytes | bytearray = b""
        self._offset = 0
        self._opcode = 0  # of the fragmented message in progress (section 5.4); 0: none
        self._parts: list[bytes] = []
        self._size = 0
        self._idle_frames = 0  # control frames and empty data frames since the last data message

    def feed(self, data: bytes) -> None:
        buffer = self._buffer
        if self._offset == len(buffer):
            # Everything before was taken, as it usually is: frames are parsed from `data` itself, and slicing
            # bytes copies once where a bytearray's slice then bytes() copied twice.
            self._buffer, self._offset = bytes(data), 0  # no copy of a bytes object
            return
        # A frame waits for the rest of its bytes: collect them in a bytearray, which appends in amortized
        # constant time however small the pieces a (hostile) peer sends.
        if isinstance(buffer, bytes):
            buffer = bytearray(buffer[self._offset :])
        else:
            del buffer[: self._offset]
        buffer += data
        self._buffer, self._offset = buffer, 0

    @property
    def buffered(self) -> int:
        return len(self._buffer) - self._offset

    def next(self) -> Event | None:
        """The next message or control frame; None until enough bytes have been fed."""
        while True:
            frame = self._frame()
            if frame is None:
                return None
            opcode, fin, payload = frame
            if opcode == BINARY and fin and payload and not self._opcode:  # the hot path: one audio frame
                self._idle_frames = 0
                return payload
            event = self._control(opcode, payload) if opcode >= CLOSE else self._data(opcode, fin, payload)
            if event is not None:
                return event

    def _frame(self) -> tuple[int, bool, bytes] | None:
        """Section 5.2: one frame's opcode, FIN bit and unmasked payload, checked as soon as its header is in."""
        buffer, start = self._buffer, self._offset
        available = len(buffer) - start
        if available < 2:
            return None
        first, second = buffer[start], buffer[start + 1]
        if first & _RESERVED:
            raise _fail("reserved bits set without a negotiated extension")
        if not second & _MASKED:
            raise _fail("client frames must be masked (RFC 6455 section 5.1)")
        opcode, length, header = first & _OPCODE, second & _LENGTH, 2
        if length == 126:
            if available < 4:
                return None
            length, header = _UINT16.unpack_from(buffer, start + 2)[0], 4
        elif length == 127:
            if available < 10:
                return None
            length, header = _UINT64.unpack_from(buffer, start + 2)[0], 10
        if opcode != BINARY or not first & _FIN or self._opcode or length > self._max_binary:
            self._check(opcode, first & _FIN, length)
        end = start + header + 4 + length
        if len(buffer) < end:
            return None
        mask = buffer[start + header : start + header + 4]
        payload = apply_mask(buffer[start + header + 4 : end], mask) if length else b""
        self._offset = end
        return opcode, bool(first & _FIN), payload

    def _check(self, opcode: int, fin: int, length: int) -> None:
        if opcode >= CLOSE:
            if opcode not in (CLOSE, PING, PONG):
                raise _fail(f"unexpected opcode {opcode}")
            if length > 125 or not fin:  # section 5.5
                raise _fail("control frames must be final and at most 125 bytes")
            return
        if opcode in (TEXT, BINARY):
            if self._opcode:
                raise _fail("a new message began before the previous one finished")
            kind = opcode
        elif opcode == CONTINUATION and self._opcode:
            kind = self._opcode
        else:
            raise _fail(f"unexpected opcode {opcode}")
        if self._size + length > self._limits[kind]:  # refused before its payload is read
            name = "text" if kind == TEXT else "binary"
            raise _fail(f"{name} message over {self._limits[kind]} bytes", CloseCode.MESSAGE_TOO_BIG)

    def _control(self, opcode: int, payload: bytes) -> Ping | Close | None:
        if opcode == CLOSE:
            return _close(payload)
        self._spend()
        return Ping(payload) if opcode == PING else None

    def _data(self, opcode: int, fin: bool, payload: bytes) -> str | bytes | None:
        if not payload:
            self._spend()
        if fin and not self._opcode:  # the common case: a whole message in one frame
            if payload:
                self._idle_frames = 0
            return _decoded(opcode, payload)
        if opcode:
            self._opcode = opcode
        self._parts.append(payload)
        self._size += len(payload)
        if not fin:
            return None
        opcode, message = self._opcode, b"".join(self._parts)
        self._opcode, self._parts, self._size = 0, [], 0
        if message:
            self._idle_frames = 0
        return _decoded(opcode, message)

    def _spend(self) -> None:
        self._idle_frames += 1
        if self._idle_frames > CONTROL_BUDGET:
            raise _fail(
                f"over {CONTROL_BUDGET} control frames or empty fragments without a data message",
                CloseCode.POLICY_VIOLATION,
            )


def _decoded(opcode: int, message: bytes) -> str | bytes:
    if opcode == BINARY:
        return message
    try:
        return message.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail("text message is not valid UTF-8", CloseCode.INVALID_PAYLOAD) from None


def _close(payload: bytes) -> Close:
    """Section 5.5.1: empty, or a 2-byte status code then a UTF-8 reason."""
    if not payload:
        return Close(None, "")
    if len(payload) == 1:
        raise _fail("a close frame's status code needs 2 bytes")
    code = _UINT16.unpack_from(payload)[0]
    if code not in PEER_CLOSE_CODES and not 3000 <= code < 5000:
        raise _fail(f"close code {code} is not one a peer may send (RFC 6455 section 7.4)")
    try:
        return Close(code, payload[2:].decode("utf-8"))
    except UnicodeDecodeError:
        raise _fail("close reason is not valid UTF-8", CloseCode.INVALID_PAYLOAD) from None


def frame(opcode: int, payload: bytes) -> bytes:
    """A server frame (final, unmasked: section 5.1)."""
    length = len(payload)
    if length < 126:
        return bytes((_FIN | opcode, length)) + payload
    if length < 65536:
        return bytes((_FIN | opcode, 126)) + _UINT16.pack(length) + payload
    return bytes((_FIN | opcode, 127)) + _UINT64.pack(length) + payload


def close_frame(code: int, reason: str = "") -> bytes:
    """Section 5.5.1: a 2-byte big-endian code, then the reason, cut to fit 125 bytes on a character boundary."""
    reason_bytes = reason.encode()[:123].decode(errors="ignore").encode()
    return frame(CLOSE, _UINT16.pack(code) + reason_bytes)
