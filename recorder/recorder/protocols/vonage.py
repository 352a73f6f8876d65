"""Vonage Voice API WebSocket stream (developer.vonage.com, "WebSockets" guide).

- First message, text: {"event": "websocket:connected", "content-type": "audio/l16;rate=16000", ...} with the
  NCCO endpoint's `headers` flattened into it (our answer function puts the call's uuid, from and to there).
- Then binary messages: signed 16-bit little-endian mono PCM, usually 20 ms each. Sizes are not guaranteed:
  an odd trailing byte is carried over to the next message.
- Text messages may arrive at any time: websocket:dtmf (digit, duration), websocket:cleared, websocket:notify...
- The end is the socket closing; Vonage sends no "stop" message.
"""

from __future__ import annotations

from ..closing import CloseCode, ProtocolError
from ..events import Audio, CallStarted, Dtmf, Event, Ignored
from . import json_object

# The NCCO's `content-type` values (Voice API NCCO reference, connect > websocket endpoint).
SAMPLE_RATES = {f"audio/l16;rate={rate}": rate for rate in (8000, 16000, 24000)}
TRACK = "mix"  # Vonage sends one mono mix of everything the socket's participant hears
_HANDSHAKE_FIELDS = {"event", "content-type"}


class VonageAdapter:
    def __init__(self) -> None:
        self._started = False
        self._position = 0  # samples received so far: Vonage's stream has no timestamps of its own
        self._carry = b""

    def receive(self, message: str | bytes) -> list[Event]:
        if isinstance(message, str):
            return self._text(message)
        if not self._started:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "audio before websocket:connected")
        return self._audio(bytes(message))

    def _text(self, text: str) -> list[Event]:
        data = json_object(text)
        event = data.get("event")
        if not self._started:
            if event != "websocket:connected":
                raise ProtocolError(
                    CloseCode.PROTOCOL_ERROR, f"first message is {str(event)[:40]!r}, not websocket:connected"
                )
            return [self._handshake(data)]
        if event == "websocket:dtmf":
            digit = data.get("digit")
            if not isinstance(digit, str) or not digit:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "websocket:dtmf without a digit")
            duration = data.get("duration")
            return [Dtmf(digit[:8], duration if isinstance(duration, int) else None)]
        return [Ignored(str(event)[:40])]

    def _handshake(self, data: dict[str, object]) -> CallStarted:
        content_type = str(data.get("content-type", "")).replace(" ", "").lower()
        rate = SAMPLE_RATES.get(content_type)
        if rate is None:
            raise ProtocolError(CloseCode.UNSUPPORTED_DATA, f"unsupported content-type {content_type[:40]!r}")
        uuid = data.get("uuid")
        if not isinstance(uuid, str) or not uuid:
            raise ProtocolError(CloseCode.POLICY_VIOLATION, "websocket:connected carries no call uuid")
        # Flattened NCCO headers: keep a bounded number of short values as metadata.
        headers = {
            str(key)[:40]: str(value)[:200] for key, value in list(data.items())[:20] if key not in _HANDSHAKE_FIELDS
        }
        self._started = True
        return CallStarted(
            provider="vonage",
            call_id=uuid,
            sample_rate=rate,
            tracks=(TRACK,),
            caller=headers.pop("from", ""),
            callee=headers.pop("to", ""),
            extra={key: value for key, value in headers.items() if key != "uuid"},
        )

    def _audio(self, data: bytes) -> list[Event]:
        if self._carry:
            data = self._carry + data
            self._carry = b""
        if len(data) % 2:
            self._carry = data[-1:]
            data = data[:-1]
        if not data:
            return []
        position = self._position
        self._position += len(data) // 2
        return [Audio(TRACK, position, data)]
