"""Voxology Media Stream (the WebSocket Messages reference; the complete example sequence is in the seeds).

- init_stream (call_id, stream_data: echoed from the STREAM action, carries our token; tracks [{name}])
  -> start_track per track (media_format) -> live_track* (base64 media, per-track track_sequence_number)
  -> stop_track per track -> end_stream.
- Chunks are placed by track_sequence_number: chunk duration is undocumented, so each track's first chunk
  sets it. A track that starts later in the call (a transfer) begins where the call has got to.
- Only ulaw at 8 kHz is documented; anything else is refused rather than guessed.
"""

from __future__ import annotations

from typing import Any

from .. import g711
from ..closing import CloseCode, ProtocolError
from ..events import Audio, CallEnded, CallStarted, Event, Ignored, TrackEnded
from . import base64_payload, echoed, json_object

SAMPLE_RATE = 8000
SUPPORTED_FORMAT = ("ulaw", SAMPLE_RATE)


class _Track:
    __slots__ = ("offset", "first_sequence", "chunk_samples")

    def __init__(self, offset: int) -> None:
        self.offset = offset  # where this track starts in the call, in samples
        self.first_sequence: int | None = None
        self.chunk_samples = 0


class VoxologyAdapter:
    def __init__(self) -> None:
        self._declared: tuple[str, ...] = ()
        self._tracks: dict[str, _Track] = {}
        self._furthest = 0  # end of the furthest audio emitted, in samples

    def receive(self, message: str | bytes) -> list[Event]:
        if not isinstance(message, str):
            raise ProtocolError(CloseCode.UNSUPPORTED_DATA, "binary message on a Voxology stream")
        data = json_object(message)
        kind = data.get("type")
        if kind == "live_track":
            return self._live(data)
        if kind == "init_stream":
            return [self._init(data)]
        if not self._declared:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"first message is {str(kind)[:40]!r}, not init_stream")
        if kind == "start_track":
            return self._start_track(data)
        if kind == "stop_track":
            return [TrackEnded(str(data.get("name", "")))]
        if kind == "end_stream":
            error = data.get("error")
            return [CallEnded(f"end_stream: {str(error)[:80]}" if error else "end_stream")]
        return [Ignored(str(kind)[:40])]

    def _init(self, data: dict[str, Any]) -> CallStarted:
        if self._declared:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "a second init_stream")
        call_id = data.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "init_stream without a call_id")
        tracks = data.get("tracks")
        names = [t.get("name") for t in tracks if isinstance(t, dict)] if isinstance(tracks, list) else []
        self._declared = tuple(dict.fromkeys(str(name)[:20] for name in names if name)) or ("caller",)
        token, caller, callee = echoed(data.get("stream_data"))
        return CallStarted(
            provider="voxology",
            call_id=call_id,
            sample_rate=SAMPLE_RATE,
            tracks=self._declared,
            token=token,
            caller=caller,
            callee=callee,
            extra={key: str(data.get(key, ""))[:64] for key in ("stream_id", "direction", "stream_name")},
        )

    def _start_track(self, data: dict[str, Any]) -> list[Event]:
        name = data.get("name")
        if name not in self._declared:
            return [Ignored("start_track for a track init_stream did not declare")]
        media_format = data.get("media_format") or {}
        found = (str(media_format.get("encoding", "")).lower(), media_format.get("sample_rate"))
        if found != SUPPORTED_FORMAT:
            raise ProtocolError(
                CloseCode.UNSUPPORTED_DATA, f"unsupported media format {str(found)[:40]} on track {name}"
            )
        self._tracks.setdefault(name, _Track(self._furthest))
        return []

    def _live(self, data: dict[str, Any]) -> list[Event]:
        if not self._declared:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "live_track before init_stream")
        name = data.get("name")
        if name not in self._declared:
            return [Ignored("live_track for a track init_stream did not declare")]
        track = self._tracks.get(name)
        if track is None:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"live_track before start_track on track {name}")
        sequence = data.get("track_sequence_number")
        if not isinstance(sequence, int) or sequence < 0:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "live_track without a track_sequence_number")
        pcm = g711.ulaw_to_pcm16(base64_payload(data.get("media"), "live_track media"))
        if not pcm:
            return []
        if track.first_sequence is None:
            track.first_sequence, track.chunk_samples = sequence, len(pcm) // 2
        if sequence < track.first_sequence:
            return [Ignored("live_track from before its track's first chunk")]
        position = track.offset + (sequence - track.first_sequence) * track.chunk_samples
        self._furthest = max(self._furthest, position + len(pcm) // 2)
        return [Audio(name, position, pcm)]
