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

from typing import Any

from ..closing import CloseCode, ProtocolError
from ..events import Audio, CallEnded, CallStarted, Event, Ignored
from ._codecs import L16_LE, MULAW, Codec, CodecTable, codec_for
from ._fields import (
    KIND,
    TRACK,
    VALUE,
    base64_payload,
    clip,
    echoed,
    json_object,
    key_press,
    optional_object,
    required_str,
    sub_object,
    whole_number,
)

PROVIDER = "twilio"  # and SignalWire, on the same /ws/twilio path
TRACKS = ("inbound", "outbound")  # channel 0 (left) the caller, channel 1 (right) what the caller hears
CODECS: CodecTable = {
    ("audio/x-mulaw", 8000): MULAW,
    **{("audio/x-l16", rate): L16_LE for rate in (8000, 16000, 24000)},
}


class TwilioAdapter:
    def __init__(self) -> None:
        self._call: CallStarted | None = None
        self._codec: Codec = MULAW
        self._samples_per_ms = 8

    def receive(self, message: str | bytes) -> list[Event]:
        data = json_object(message, "Twilio/SignalWire")
        event = data.get("event")
        if event == "start":
            return [self._handshake(data)]
        if self._call is None:
            if event == "connected":
                return [Ignored("connected")]
            # Another provider's protocol on this path (Vonage's websocket:connected, say) is refused at once.
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"{clip(event, KIND)} before start")
        if event == "media":
            return self._audio(data)
        if event == "dtmf":
            return self._dtmf(data)
        if event == "stop":
            return self._end()
        return [Ignored(clip(event, KIND))]  # mark, and anything newer

    def _handshake(self, data: dict[str, Any]) -> CallStarted:
        if self._call is not None:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "a second start message")
        start = sub_object(data, "start", "start")
        media_format = optional_object(start, "mediaFormat", "start.mediaFormat")
        rate = whole_number(media_format.get("sampleRate", 8000), "mediaFormat.sampleRate")
        self._codec = codec_for(CODECS, media_format.get("encoding", ""), rate)
        call_id = required_str(start, "callSid", "start message")
        declared = start.get("tracks") or list(TRACKS)
        if not isinstance(declared, list):
            raise ProtocolError(CloseCode.INVALID_PAYLOAD, "start.tracks is not a list")
        self._samples_per_ms = rate // 1000
        token, caller, callee = echoed(start.get("customParameters"))
        self._call = CallStarted(
            provider=PROVIDER,
            call_id=call_id,
            sample_rate=rate,
            tracks=tuple(track for track in TRACKS if track in declared) or TRACKS,
            token=token,
            caller=caller,
            callee=callee,
            extra={"stream_sid": clip(start.get("streamSid", ""), VALUE)},
        )
        return self._call

    def _audio(self, data: dict[str, Any]) -> list[Event]:
        assert self._call is not None  # receive() checked
        media = sub_object(data, "media", "media")
        track = media.get("track", "inbound")
        if track not in self._call.tracks:
            return [Ignored(f"media on undeclared track {clip(track, TRACK)}")]
        payload = base64_payload(media.get("payload"), "media payload")
        timestamp = whole_number(media.get("timestamp"), "media.timestamp")
        return [Audio(track, timestamp * self._samples_per_ms, self._codec.decode(payload))]

    def _dtmf(self, data: dict[str, Any]) -> list[Event]:
        dtmf = data.get("dtmf")
        return key_press(dtmf.get("digit") if isinstance(dtmf, dict) else None)

    def _end(self) -> list[Event]:
        return [CallEnded("stop")]
