"""Twilio Media Streams and SignalWire <Stream> (the same message shapes).

twilio.com/docs/voice/media-streams/websocket-messages; SignalWire's cXML <Stream> reference.
- All messages are JSON text; number-like values arrive as strings.
- connected -> start (callSid, tracks, customParameters, mediaFormat) -> media* / dtmf / mark -> stop.
  The socket may also just close without a stop.
- media: one track per message ("inbound": the caller; "outbound": what the caller hears), `timestamp` in ms
  since the stream started: audio is placed by it. Twilio sends no silence, so gaps are normal.
- Encodings: audio/x-mulaw at 8 kHz (Twilio, SignalWire's default), and SignalWire's audio/x-L16 at 8, 16 or
  24 kHz. SignalWire does not document L16's byte order; we take it as little-endian, FreeSWITCH's (which
  SignalWire is built on) and Vonage's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import g711
from ..closing import CloseCode, ProtocolError
from ..events import Audio, CallEnded, CallStarted, Dtmf, Event, Ignored
from . import base64_payload, echoed, json_object

TRACKS = ("inbound", "outbound")  # channel 0 (left) the caller, channel 1 (right) what the caller hears


def _l16(payload: bytes) -> bytes:
    return payload[: len(payload) // 2 * 2]


# (encoding, sample rate) -> payload decoder to 16-bit little-endian PCM
DECODERS: dict[tuple[str, int], Callable[[bytes], bytes]] = {
    ("audio/x-mulaw", 8000): g711.ulaw_to_pcm16,
    **{("audio/x-l16", rate): _l16 for rate in (8000, 16000, 24000)},
}


class TwilioAdapter:
    def __init__(self) -> None:
        self._decode: Callable[[bytes], bytes] | None = None
        self._samples_per_ms = 8
        self._tracks: tuple[str, ...] = ()

    def receive(self, message: str | bytes) -> list[Event]:
        if not isinstance(message, str):
            raise ProtocolError(CloseCode.UNSUPPORTED_DATA, "binary message on a Twilio/SignalWire stream")
        data = json_object(message)
        event = data.get("event")
        if event == "media":
            return self._media(data.get("media"))
        if event == "start":
            return [self._start(data.get("start"))]
        if event == "stop":
            return [CallEnded("stop")]
        if event == "dtmf":
            dtmf = data.get("dtmf") or {}
            digit = dtmf.get("digit") if isinstance(dtmf, dict) else None
            return [Dtmf(digit[:8])] if isinstance(digit, str) and digit else [Ignored("dtmf without a digit")]
        return [Ignored(str(event)[:40])]  # connected, mark, and anything newer

    def _start(self, start: Any) -> CallStarted:
        if self._decode is not None:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "a second start message")
        if not isinstance(start, dict):
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "start message without a start object")
        media_format = start.get("mediaFormat") or {}
        encoding = str(media_format.get("encoding", "")).lower()
        rate = _number(media_format.get("sampleRate", 8000), "mediaFormat.sampleRate")
        decode = DECODERS.get((encoding, rate))
        if decode is None:
            raise ProtocolError(CloseCode.UNSUPPORTED_DATA, f"unsupported media format {encoding[:30]!r} at {rate} Hz")
        call_id = start.get("callSid")
        if not isinstance(call_id, str) or not call_id:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "start message without a callSid")
        declared = start.get("tracks") or list(TRACKS)
        self._tracks = tuple(track for track in TRACKS if track in declared) or TRACKS
        self._decode, self._samples_per_ms = decode, rate // 1000
        token, caller, callee = echoed(start.get("customParameters"))
        return CallStarted(
            provider="twilio",
            call_id=call_id,
            sample_rate=rate,
            tracks=self._tracks,
            token=token,
            caller=caller,
            callee=callee,
            extra={"stream_sid": str(start.get("streamSid", ""))[:64]},
        )

    def _media(self, media: Any) -> list[Event]:
        if self._decode is None:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "media before start")
        if not isinstance(media, dict):
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "media message without a media object")
        track = media.get("track", "inbound")
        if track not in self._tracks:
            return [Ignored(f"media on undeclared track {str(track)[:20]}")]
        payload = base64_payload(media.get("payload"), "media payload")
        timestamp = _number(media.get("timestamp"), "media.timestamp")
        return [Audio(track, timestamp * self._samples_per_ms, self._decode(payload))]


def _number(value: Any, name: str) -> int:
    """Twilio sends numbers as strings; SignalWire sometimes as numbers."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"{name} is not a number") from None
    if number < 0:
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"{name} is negative")
    return number
