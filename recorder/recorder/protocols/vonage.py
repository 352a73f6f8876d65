"""Vonage Voice API WebSocket stream (developer.vonage.com, "WebSockets" guide).

- First message, text: {"event": "websocket:connected", "content-type": "audio/l16;rate=16000", ...} with the
  NCCO endpoint's `headers` flattened into it (our answer function puts the call's uuid, from and to there).
- Then binary messages: signed 16-bit little-endian mono PCM, usually 20 ms each. Sizes are not guaranteed:
  an odd trailing byte is carried over to the next message.
- Text messages may arrive at any time: websocket:dtmf (digit, duration), websocket:cleared, websocket:notify...
- The end is the socket closing; Vonage sends no "stop" message.
"""

from __future__ import annotations

from typing import Any

from ..closing import CloseCode, ProtocolError
from ..events import Audio, CallStarted, Event, Ignored
from ._codecs import L16_LE, CodecTable, codec_for
from ._fields import HEADER, KIND, clip, json_object, key_press, required_str
from ._placement import ByteClock

PROVIDER = "vonage"
# The NCCO's `content-type` values (Voice API NCCO reference, connect > websocket endpoint).
CODECS: CodecTable = {("audio/l16", rate): L16_LE for rate in (8000, 16000, 24000)}
TRACK = "mix"  # Vonage sends one mono mix of everything the socket's participant hears
_HANDSHAKE_FIELDS = {"event", "content-type", "uuid"}
MAX_HEADERS = 20


class VonageAdapter:
    def __init__(self) -> None:
        self._call: CallStarted | None = None
        self._clock = ByteClock(2)  # Vonage's stream has no timestamps of its own

    def receive(self, message: str | bytes) -> list[Event]:
        if not isinstance(message, str):
            return self._audio(bytes(message))
        data = json_object(message, "Vonage")
        event = data.get("event")
        if event == "websocket:connected":
            return [self._handshake(data)]
        if self._call is None:
            raise ProtocolError(
                CloseCode.PROTOCOL_ERROR, f"first message is {clip(event, KIND)!r}, not websocket:connected"
            )
        if event == "websocket:dtmf":
            return self._dtmf(data)
        return [Ignored(clip(event, KIND))]

    def _handshake(self, data: dict[str, Any]) -> CallStarted:
        if self._call is not None:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "a second websocket:connected")
        content_type = data.get("content-type", "")
        if not isinstance(content_type, str):
            raise ProtocolError(CloseCode.INVALID_PAYLOAD, "content-type is not a string")
        encoding, _, rate_text = content_type.replace(" ", "").lower().partition(";rate=")
        rate = int(rate_text) if rate_text.isascii() and rate_text.isdigit() and len(rate_text) < 6 else 0
        codec_for(CODECS, encoding, rate)
        call_id = required_str(data, "uuid", "websocket:connected")
        # Flattened NCCO headers: keep a bounded number of short values as metadata.
        headers = {
            clip(key, KIND): clip(value, HEADER)
            for key, value in list(data.items())[:MAX_HEADERS]
            if key not in _HANDSHAKE_FIELDS
        }
        self._call = CallStarted(
            provider=PROVIDER,
            call_id=call_id,
            sample_rate=rate,
            tracks=(TRACK,),
            caller=headers.pop("from", ""),
            callee=headers.pop("to", ""),
            extra=headers,
        )
        return self._call

    def _audio(self, data: bytes) -> list[Event]:
        if self._call is None:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "audio before websocket:connected")
        position, data = self._clock.take(data)
        if not data:
            return []
        return [Audio(TRACK, position, data)]

    def _dtmf(self, data: dict[str, Any]) -> list[Event]:
        duration = data.get("duration")
        duration_ms = duration if isinstance(duration, int) and not isinstance(duration, bool) else None
        return key_press(data.get("digit"), duration_ms, kind="websocket:dtmf")
