"""How a call's stream ends early: the close codes the recorder sends, and one family of exceptions carrying them.

    CloseStream            anything that closes the stream with `code` (the socket loop catches this one)
     +-- ProtocolError     what the peer sent is unusable (adapters and the frame parser raise only this)
     +-- Refused           not a fault of the peer's bytes: capacity, spool space, shutdown, no valid token,
     |                     a second stream for a call
     +-- EndCall           ended from outside the call's greenlet: SIGTERM drain, silence, an over-long call

Modelled on websockets' `frames.CloseCode` and `exceptions.py`, and wsproto's `CloseReason`.
"""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    """RFC 6455 section 7.4.1 (and the IANA registry for 1012-1014)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002  # framing, or messages out of order or missing what the provider's protocol requires
    UNSUPPORTED_DATA = 1003  # a codec or message type the recorder cannot record
    INVALID_PAYLOAD = 1007  # not UTF-8, not JSON, not base64, a field of the wrong type
    POLICY_VIOLATION = 1008  # no valid token for this call, or a second stream for it
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013


class CloseStream(Exception):
    """Close the stream with `code`; `reason` goes into the close frame and the log line."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ProtocolError(CloseStream):
    """What the peer sent is unusable."""


class Refused(CloseStream):
    """The recorder will not take (or keep) this stream, whatever its bytes."""


class EndCall(CloseStream):
    """Raised into a call's greenlet from outside it, while it waits for the next message."""
