"""Telnyx media streaming, as a TeXML <Start><Stream> sends it (developers.telnyx.com, "Media Streaming" guide
and the AsyncAPI reference; shared/protocols/telnyx-plivo-exotel.md section 1).

- All messages are JSON text, snake_case, numbers as strings: connected -> start (start.call_control_id, from,
  to, media_format {encoding, sample_rate, channels}) -> media* (track inbound/outbound, chunk, timestamp, base64
  RTP payload without headers) / dtmf / mark / error -> stop. The socket may also just close without a stop.
- The token is the stream url's last path segment (the app passes it as the presented token): whether Telnyx
  keeps a query string or supports <Parameter> is undocumented.
- Encodings: PCMU and PCMA, in either spelling (the guide's "PCMU", older copies' "audio/x-mulaw"); Telnyx
  transcodes only between these two, so G722, OPUS and AMR-WB (the call's own codec) are refused with 1003.
- "The order of events is not guaranteed and the chunk number can be used to reorder the events." Chunks are
  placed per track by chunk number and cumulative samples (_placement.py), each track anchored by its first
  timestamp after the stream's first audio. Assumptions, undocumented by Telnyx: `chunk` counts per track (as
  Twilio's, whose example Telnyx's copies byte for byte), and `timestamp` is in milliseconds.
"""

from __future__ import annotations

from typing import Any

from ..closing import CloseCode, ProtocolError
from ..events import CallEnded, CallStarted, Event, Ignored
from ._codecs import ALAW, MULAW, Codec, CodecTable, codec_for
from ._fields import (
    KIND,
    VALUE,
    clip,
    json_object,
    key_press,
    required_str,
    sub_object,
    whole_number,
)
from ._placement import WallClockTracks

PROVIDER = "telnyx"
TRACKS = ("inbound", "outbound")  # channel 0 (left) the caller, channel 1 (right) what the caller hears
SAMPLE_RATE = 8000
CODECS: CodecTable = {
    **{(name, SAMPLE_RATE): MULAW for name in ("pcmu", "audio/x-mulaw")},
    **{(name, SAMPLE_RATE): ALAW for name in ("pcma", "audio/x-alaw")},
}


class TelnyxAdapter:
    def __init__(self) -> None:
        self._call: CallStarted | None = None
        self._codec: Codec = MULAW
        self._clock = WallClockTracks(SAMPLE_RATE)

    def receive(self, message: str | bytes) -> list[Event]:
        data = json_object(message, "Telnyx")
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
        if event == "error":  # about what we send, and a recorder sends nothing: worth a log line, not the call
            error = data.get("payload")
            title = error.get("title") if isinstance(error, dict) else None
            return [Ignored(clip(f"error {title}", KIND))]
        return [Ignored(clip(event, KIND))]  # mark, and anything newer

    def _handshake(self, data: dict[str, Any]) -> CallStarted:
        if self._call is not None:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "a second start message")
        start = sub_object(data, "start", "start")
        media_format = sub_object(start, "media_format", "start")
        rate = whole_number(media_format.get("sample_rate", SAMPLE_RATE), "media_format.sample_rate")
        self._codec = codec_for(CODECS, media_format.get("encoding", ""), rate)
        self._call = CallStarted(
            provider=PROVIDER,
            call_id=required_str(start, "call_control_id", "start message"),
            sample_rate=rate,
            tracks=TRACKS,  # the TeXML asks for both_tracks; a track that never comes is silence
            caller=clip(start.get("from", ""), VALUE),
            callee=clip(start.get("to", ""), VALUE),
            extra={
                "stream_id": clip(data.get("stream_id", ""), VALUE),
                "call_session_id": clip(start.get("call_session_id", ""), VALUE),
            },
        )
        return self._call

    def _audio(self, data: dict[str, Any]) -> list[Event]:
        assert self._call is not None  # receive() checked
        return self._clock.audio(sub_object(data, "media", "media"), self._call.tracks, self._codec)

    def _dtmf(self, data: dict[str, Any]) -> list[Event]:
        dtmf = data.get("dtmf")
        return key_press(dtmf.get("digit") if isinstance(dtmf, dict) else None)

    def _end(self) -> list[Event]:
        return [CallEnded("stop")]
