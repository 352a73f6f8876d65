"""Placing numbered chunks on a track's sample clock, for providers whose chunks carry a count, not a time; and
placing a stream that carries neither by the running count of what arrived (`ByteClock`).

Chunk numbers tell order and gaps only: a chunk starts where the chunk before it ended (cumulative samples), and
k missing numbers are taken to hold k chunks the size of the one that arrived. A lost chunk's size cannot be
known; every provider here sends fixed 20 ms frames in practice, and what matters is that a lost chunk leaves
silence of about its length instead of shifting the rest of the track (defects.md #8).
"""

from __future__ import annotations

from typing import Any

from ..events import Audio, Event, Ignored
from ._codecs import Codec
from ._fields import TRACK, base64_payload, clip, whole_number

RECENT = 256  # chunks whose start is remembered, to place a reordered or repeated one exactly (~5 s of 20 ms)


class ByteClock:
    """A binary stream with no clock of its own (Vonage, Asterisk, AudioHook, jambonz): its audio is placed by the
    running count of what arrived. Only whole sample groups of `width` bytes (a sample per channel) are placed;
    a trailing partial one waits for the rest of its bytes."""

    __slots__ = ("width", "position", "_carry")

    def __init__(self, width: int) -> None:
        self.width = width  # set again at the handshake, once the codec and the channels are known
        self.position = 0  # sample groups so far: where the next audio goes
        self._carry = b""

    def take(self, data: bytes) -> tuple[int, bytes]:
        """Where `data`'s first whole group goes, and the whole groups (b"" until one is complete)."""
        if self._carry:
            data, self._carry = self._carry + data, b""
        whole = len(data) - len(data) % self.width
        if whole < len(data):
            data, self._carry = data[:whole], data[whole:]
        position = self.position
        self.position += whole // self.width
        return position, data


class ChunkClock:
    """One track: chunk number `first` starts at sample `offset`."""

    __slots__ = ("_next", "_next_at", "_starts")

    def __init__(self, first: int, offset: int) -> None:
        self._next = first  # the number after the highest chunk placed
        self._next_at = offset  # and where it starts
        self._starts: dict[int, int] = {}

    def place(self, number: int, samples: int) -> int | None:
        """Where chunk `number` of `samples` samples starts; None if that would be before the call began."""
        start = self._starts.get(number)
        if start is None:
            if number >= self._next:
                start = self._next_at + (number - self._next) * samples
            else:  # reordered: it ends where the nearest later chunk placed starts
                later = min((n for n in self._starts if n > number), default=self._next)
                start = self._starts.get(later, self._next_at) - (later - number) * samples
            if start < 0:
                return None
            self._starts[number] = start
            if len(self._starts) > RECENT:
                del self._starts[min(self._starts)]
        if number >= self._next:
            self._next, self._next_at = number + 1, start + samples
        return start


class WallClockTracks:
    """Tracks whose chunks also carry a clock in ms shared by every track (Plivo's Unix epoch ms; Telnyx's).

    Each track is anchored where its first chunk's timestamp falls after the stream's first audio, so a track
    that starts late starts late in the file; within a track, chunks are placed by their ChunkClock (the chunk
    count is exact, while the timestamps' resolution and jitter are undocumented). A track whose first chunk is
    timestamped before the stream's first audio (reordered across tracks) starts at 0.
    """

    def __init__(self, sample_rate: int) -> None:
        self._sample_rate = sample_rate
        self._origin_ms: int | None = None
        self._clocks: dict[str, ChunkClock] = {}

    def place(self, track: str, chunk: int, timestamp_ms: int, samples: int) -> int | None:
        clock = self._clocks.get(track)
        if clock is None:
            if self._origin_ms is None:
                self._origin_ms = timestamp_ms
            offset = max(0, timestamp_ms - self._origin_ms) * self._sample_rate // 1000
            clock = self._clocks[track] = ChunkClock(chunk, offset)
        return clock.place(chunk, samples)

    def audio(self, media: dict[str, Any], tracks: tuple[str, ...], codec: Codec) -> list[Event]:
        """A Telnyx or Plivo media object: `track`, `chunk`, `timestamp` (ms) and a base64 `payload`."""
        track = media.get("track")
        if track not in tracks:
            return [Ignored(f"media on undeclared track {clip(track, TRACK)}")]
        chunk = whole_number(media.get("chunk"), "media.chunk")
        timestamp = whole_number(media.get("timestamp"), "media.timestamp")
        pcm = codec.decode(base64_payload(media.get("payload"), "media payload"))
        if not pcm:
            return []
        position = self.place(track, chunk, timestamp, len(pcm) // 2)
        if position is None:
            return [Ignored("media from before its track started")]
        return [Audio(track, position, pcm)]
