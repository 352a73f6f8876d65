"""Voxology Media Stream (the WebSocket Messages reference; its complete example sequence is kept verbatim in
tests/data/voxology_seed_sequence.json).

- init_stream (call_id, stream_data: echoed from the STREAM action, carries our token; tracks [{name}])
  -> start_track per track (media_format, track_sequence_number) -> live_track* (base64 media, the track's
  next track_sequence_number) -> stop_track per track -> end_stream (error, when the stream failed).
- Each track starts at its start_track: its first chunk is number start_track + 1, placed where the call has
  got to when the track starts (a transfer leg joins late). Chunks are placed by cumulative samples, the
  sequence number only detects gaps (_placement.py), so a lost first chunk leaves silence, not a shifted track.
- Only ulaw at 8 kHz is documented; anything else is refused rather than guessed.
"""

from __future__ import annotations

from typing import Any

from ..closing import CloseCode, ProtocolError
from ..events import Audio, CallEnded, CallStarted, Event, Ignored, TrackEnded
from ._codecs import MULAW, CodecTable, codec_for
from ._fields import (
    KIND,
    REASON,
    TRACK,
    VALUE,
    base64_payload,
    clip,
    echoed,
    json_object,
    optional_object,
    required_str,
    whole_number,
)
from ._placement import ChunkClock

PROVIDER = "voxology"
SAMPLE_RATE = 8000
CODECS: CodecTable = {("ulaw", SAMPLE_RATE): MULAW}
DEFAULT_TRACK = "caller"  # an init_stream that names no tracks


class VoxologyAdapter:
    def __init__(self) -> None:
        self._call: CallStarted | None = None
        self._tracks: dict[str, tuple[int, ChunkClock]] = {}  # started tracks: first chunk number, clock
        self._furthest = 0  # end of the furthest audio emitted, in samples: where a joining track starts

    def receive(self, message: str | bytes) -> list[Event]:
        data = json_object(message, "Voxology")
        kind = data.get("type")
        if kind == "init_stream":
            return [self._handshake(data)]
        if self._call is None:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"first message is {clip(kind, KIND)!r}, not init_stream")
        if kind == "live_track":
            return self._audio(data)
        if kind == "start_track":
            return self._start_track(data)
        if kind == "stop_track":
            return [TrackEnded(clip(data.get("name", ""), TRACK))]
        if kind == "end_stream":
            return self._end(data)
        return [Ignored(clip(kind, KIND))]  # Voxology's DTMF arrives by webhook, not on the stream

    def _handshake(self, data: dict[str, Any]) -> CallStarted:
        if self._call is not None:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "a second init_stream")
        call_id = required_str(data, "call_id", "init_stream")
        tracks = data.get("tracks") or []
        if not isinstance(tracks, list):
            raise ProtocolError(CloseCode.INVALID_PAYLOAD, "init_stream.tracks is not a list")
        names = [track.get("name") for track in tracks if isinstance(track, dict)]
        declared = tuple(dict.fromkeys(clip(name, TRACK) for name in names if isinstance(name, str) and name))
        token, caller, callee = echoed(data.get("stream_data"))
        self._call = CallStarted(
            provider=PROVIDER,
            call_id=call_id,
            sample_rate=SAMPLE_RATE,
            tracks=declared or (DEFAULT_TRACK,),
            token=token,
            caller=caller,
            callee=callee,
            extra={key: clip(data.get(key, ""), VALUE) for key in ("stream_id", "direction", "stream_name")},
        )
        return self._call

    def _start_track(self, data: dict[str, Any]) -> list[Event]:
        assert self._call is not None
        name = data.get("name")
        if name not in self._call.tracks:
            return [Ignored("start_track for a track init_stream did not declare")]
        media_format = optional_object(data, "media_format", "start_track.media_format")
        codec_for(
            CODECS, media_format.get("encoding", ""), whole_number(media_format.get("sample_rate", 0), "sample_rate")
        )
        started_at = whole_number(data.get("track_sequence_number"), "start_track.track_sequence_number")
        self._tracks.setdefault(name, (started_at + 1, ChunkClock(started_at + 1, self._furthest)))
        return []

    def _audio(self, data: dict[str, Any]) -> list[Event]:
        assert self._call is not None
        name = data.get("name")
        if name not in self._call.tracks:
            return [Ignored("live_track for a track init_stream did not declare")]
        track = self._tracks.get(name)
        if track is None:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"live_track before start_track on track {name}")
        first, clock = track
        sequence = whole_number(data.get("track_sequence_number"), "live_track.track_sequence_number")
        pcm = MULAW.decode(base64_payload(data.get("media"), "live_track media"))
        if not pcm:
            return []
        position = clock.place(sequence, len(pcm) // 2) if sequence >= first else None
        if position is None:
            return [Ignored("live_track from before its track started")]
        self._furthest = max(self._furthest, position + len(pcm) // 2)
        return [Audio(name, position, pcm)]

    def _end(self, data: dict[str, Any]) -> list[Event]:
        error = data.get("error")
        return [CallEnded(f"end_stream: {clip(error, REASON)}" if error else "end_stream")]
