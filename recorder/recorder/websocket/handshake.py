"""RFC 6455 section 4.2, the server's side of the opening handshake, sans-I/O: a request's headers in, the 101's
bytes out, or one `HandshakeRefused` with its HTTP status."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # section 1.3


class HandshakeRefused(Exception):
    def __init__(self, status: str, reason: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers


def is_upgrade(environ: Mapping[str, object]) -> bool:
    connection = str(environ.get("HTTP_CONNECTION", "")).lower()
    return str(environ.get("HTTP_UPGRADE", "")).lower() == "websocket" and "upgrade" in connection


def switching_protocols(environ: Mapping[str, object], offered: tuple[str, ...]) -> tuple[bytes, str | None]:
    """The 101 response for a WSGI `environ` asking to upgrade, and the subprotocol chosen: the first the client
    asks for (section 4.2.2, `Sec-WebSocket-Protocol`) among those `offered`, or None."""
    if environ.get("REQUEST_METHOD") != "GET" or environ.get("SERVER_PROTOCOL") != "HTTP/1.1":
        raise HandshakeRefused("400 Bad Request", "a WebSocket upgrade is an HTTP/1.1 GET")
    if environ.get("HTTP_SEC_WEBSOCKET_VERSION") != "13":
        raise HandshakeRefused(
            "426 Upgrade Required", "only WebSocket version 13 is spoken", (("Sec-WebSocket-Version", "13"),)
        )
    key = str(environ.get("HTTP_SEC_WEBSOCKET_KEY", "")).strip()
    try:
        valid_key = len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        valid_key = False
    if not valid_key:
        raise HandshakeRefused("400 Bad Request", "Sec-WebSocket-Key is not 16 bytes in base64")
    accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()  # noqa: S324 - RFC 6455
    asked = [name.strip() for name in str(environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL", "")).split(",")]
    chosen = next((name for name in asked if name in offered), None)
    head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    head += f"Sec-WebSocket-Accept: {accept}\r\n"
    if chosen:
        head += f"Sec-WebSocket-Protocol: {chosen}\r\n"
    return (head + "\r\n").encode(), chosen
