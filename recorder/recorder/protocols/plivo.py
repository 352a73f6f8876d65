"""Plivo audio streaming, as a Plivo XML <Stream> sends it (docs.plivo.com, "Audio Streaming" and its
reference; shared/protocols/telnyx-plivo-exotel.md section 2).

- All messages are JSON text, camelCase: start (start.callId, streamId, tracks, mediaFormat {encoding,
  sampleRate}; `extra_headers` echoing the <Stream>'s extraHeaders) -> media* (track, `timestamp` in Unix epoch
  milliseconds, `chunk` counted per track, base64 payload) / dtmf / playedStream / clearedAudio.
- There is no stop message: the socket closing ends the call (a stop is handled, should one come).
- The token is the stream url's last path segment. Our answer puts the caller's and callee's digits in
  extraHeaders (letters and digits only), since the start message carries no numbers.
- Only audio/x-mulaw at 8 kHz is taken, which is what our answer asks for: L16's byte order is undocumented
  for Plivo, so L16 is refused (1003) rather than guessed.
- Placement: both tracks share Plivo's wall clock, so each track starts where its first timestamp falls after
  the stream's first audio (a track that starts late starts late in the file), and within a track its chunks
  are placed by number and cumulative samples (_placement.py).
"""

from __future__ import annotations

import re
from typing import Any

from ..closing import CloseCode, ProtocolError
from ..events import CallEnded, CallStarted, Event, Ignored
from ._codecs import MULAW, Codec, CodecTable, codec_for
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

PROVIDER = "plivo"
TRACKS = ("inbound", "outbound")  # channel 0 (left) the caller, channel 1 (right) what the caller hears
SAMPLE_RATE = 8000
CODECS: CodecTable = {("audio/x-mulaw", SAMPLE_RATE): MULAW}
# extraHeaders as Plivo echoes them: "k=v,k=v" in its XML reference, "k=v;k=v" in its message reference.
_HEADER = re.compile(r"([A-Za-z0-9]+)=([A-Za-z0-9]*)")


class PlivoAdapter:
    def __init__(self) -> None:
        self._call: CallStarted | None = None
        self._codec: Codec = MULAW
        self._clock = WallClockTracks(SAMPLE_RATE)

    def receive(self, message: str | bytes) -> list[Event]:
        data = json_object(message, "Plivo")
        event = data.get("event")
        if event == "start":
            return [self._handshake(data)]
        if self._call is None:  # Plivo's first message is start; anything else is another protocol, or out of order
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"{clip(event, KIND)} before start")
        if event == "media":
            return self._audio(data)
        if event == "dtmf":
            return self._dtmf(data)
        if event == "stop":
            return self._end()
        return [Ignored(clip(event, KIND))]  # playedStream, clearedAudio, and anything newer

    def _handshake(self, data: dict[str, Any]) -> CallStarted:
        if self._call is not None:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "a second start message")
        start = sub_object(data, "start", "start")
        media_format = sub_object(start, "mediaFormat", "start")
        rate = whole_number(media_format.get("sampleRate", SAMPLE_RATE), "mediaFormat.sampleRate")
        self._codec = codec_for(CODECS, media_format.get("encoding", ""), rate)
        call_id = required_str(start, "callId", "start message")
        declared = start.get("tracks") or list(TRACKS)
        if not isinstance(declared, list):
            raise ProtocolError(CloseCode.INVALID_PAYLOAD, "start.tracks is not a list")
        extra_headers = data.get("extra_headers", "")
        headers = dict(_HEADER.findall(extra_headers)) if isinstance(extra_headers, str) else {}
        self._call = CallStarted(
            provider=PROVIDER,
            call_id=call_id,
            sample_rate=rate,
            tracks=tuple(track for track in TRACKS if track in declared) or TRACKS,
            caller=clip(headers.get("from", ""), VALUE),
            callee=clip(headers.get("to", ""), VALUE),
            extra={"stream_id": clip(start.get("streamId", ""), VALUE)},
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
