"""A WebSocket client that does exactly what it is told, malformed frames included (RFC 6455 section 5.2)."""

from __future__ import annotations

import base64
import os
import socket
import struct
import time


def masked_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """One client frame of under 126 bytes, built in advance (a flood sends thousands of them at once)."""
    key = b"\x01\x02\x03\x04"
    return (
        bytes(((0x80 if fin else 0) | opcode, 0x80 | len(payload)))
        + key
        + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    )


class RawClient:
    def __init__(self, port: int, path: str, timeout: float = 10.0, headers: dict[str, str] | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n".encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            response += chunk
        head, _, self._buffer = response.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])

    def send_frame(self, opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0, mask: bool = True) -> None:
        first = (0x80 if fin else 0) | (rsv << 4) | opcode
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", first, (0x80 if mask else 0) | length)
        elif length < 65536:
            header = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, length)
        else:
            header = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, length)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            header += key
        self.sock.sendall(header + payload)

    def text(self, message: str) -> None:
        self.send_frame(0x1, message.encode())

    def binary(self, data: bytes) -> None:
        self.send_frame(0x2, data)

    def _read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def recv_frame(self) -> tuple[int, bytes]:
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read(8))[0]
        return first & 0x0F, self._read(length)

    def close_code(self) -> int | None:
        """Read until the server's close frame; its status code (None if the connection ends without one)."""
        try:
            while True:
                opcode, payload = self.recv_frame()
                if opcode == 0x8:
                    return int(struct.unpack("!H", payload[:2])[0]) if len(payload) >= 2 else 1005
        except (EOFError, OSError):
            return None

    def flood(self, blob: bytes, seconds: float, times: int | None = None) -> float:
        """Send `blob` over and over until the server closes the connection, `seconds` pass, or it was sent
        `times` times; how long it took."""
        started, sent = time.monotonic(), 0
        try:
            while time.monotonic() - started < seconds and (times is None or sent < times):
                self.sock.sendall(blob)
                sent += 1
        except OSError:
            pass
        return time.monotonic() - started

    def read_to_eof(self) -> int:
        """Read until the server closes the connection; how many bytes came after the response head."""
        received = len(self._buffer)
        while chunk := self.sock.recv(65536):
            received += len(chunk)
        return received

    def close(self) -> None:
        self.sock.close()
