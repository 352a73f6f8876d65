"""Places each track's audio by the provider's own clock and interleaves the tracks into channels.

Positions are sample offsets from the provider (Twilio's `timestamp`, Voxology's `track_sequence_number`, the
running byte count of Vonage's stream). Wall-clock arrival is never used: it makes stereo files drift.

- A chunk at the track's cursor is written at once.
- A chunk ahead of the cursor waits; the hole before it is filled with silence once the furthest position seen
  on any track is more than `window` samples past the hole (reordered chunks within the window get put back).
- A chunk behind the cursor is a duplicate (its place already holds audio) or late (its place was already
  filled with silence): dropped and counted. A chunk overlapping the cursor keeps only its new part.
- Tracks fall no further than the window behind the furthest track (a silent track is filled with silence),
  so memory per call is bounded by the window whatever the call's length.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

SILENCE = b"\x00\x00"


class _Track:
    __slots__ = ("cursor", "pending", "ready", "end", "silence_ranges", "in_gap")

    def __init__(self) -> None:
        self.cursor = 0  # next sample position to emit
        self.pending: dict[int, bytes] = {}  # position -> pcm, ahead of the cursor
        self.ready = bytearray()  # emitted, waiting to be interleaved with the other tracks
        self.end = 0  # furthest sample received
        self.silence_ranges: deque[tuple[int, int]] = deque(maxlen=64)  # recent fills, to tell late from duplicate
        self.in_gap = False


@dataclass(frozen=True)
class TimelineStats:
    gaps: int
    gap_ms: int
    duplicates: int
    late: int


class Timeline:
    def __init__(self, tracks: tuple[str, ...], sample_rate: int, window_ms: int) -> None:
        if not tracks:
            raise ValueError("a timeline needs at least one track")
        self._names = tracks
        self._tracks = {name: _Track() for name in tracks}
        self._sample_rate = sample_rate
        self._window = sample_rate * window_ms // 1000
        self._horizon = 0  # furthest sample position seen on any track
        self.gaps = 0
        self.gap_samples = 0
        self.duplicates = 0
        self.late = 0

    @property
    def position_ms(self) -> int:
        """How far the call has got on the provider's clock."""
        return self._horizon * 1000 // self._sample_rate

    @property
    def stats(self) -> TimelineStats:
        return TimelineStats(self.gaps, self.gap_samples * 1000 // self._sample_rate, self.duplicates, self.late)

    def add(self, track: str, position: int, pcm: bytes) -> bytes:
        """Take one chunk; return the interleaved frames that are now final (possibly none)."""
        t = self._tracks[track]
        samples = len(pcm) // 2
        if position == t.cursor and not t.pending:
            # The common case: in order, nothing waiting.
            t.ready += pcm
            t.cursor += samples
            t.in_gap = False
        elif position + samples <= t.cursor:
            self._count_behind(t, position)
            return b""
        else:
            waiting = t.pending.get(position)
            if waiting is not None:
                self.duplicates += 1
                if len(pcm) <= len(waiting):
                    return b""
            t.pending[position] = pcm  # a longer resend of a waiting chunk replaces it
        t.end = max(t.end, position + samples)
        self._horizon = max(self._horizon, position + samples)
        self._advance(self._horizon - self._window, count_gaps=True)
        return self._interleave()

    def finish(self) -> bytes:
        """Flush everything; every track ends at the longest track's end."""
        end = max(t.end for t in self._tracks.values())
        self._advance(end, count_gaps=False)
        return self._interleave()

    def _count_behind(self, t: _Track, position: int) -> None:
        if any(start <= position < stop for start, stop in t.silence_ranges):
            self.late += 1
        else:
            self.duplicates += 1

    def _advance(self, limit: int, count_gaps: bool) -> None:
        for t in self._tracks.values():
            while t.pending:
                position = min(t.pending)
                if position > t.cursor:
                    if t.cursor >= limit:
                        break
                    self._fill(t, min(position, limit), count_gaps)
                    continue
                pcm = t.pending.pop(position)
                skip = (t.cursor - position) * 2
                if skip >= len(pcm):
                    self.duplicates += 1
                    continue
                t.ready += pcm[skip:]
                t.cursor += len(pcm) // 2 - (t.cursor - position)
                t.in_gap = False
            if t.cursor < limit:
                self._fill(t, limit, count_gaps)

    def _fill(self, t: _Track, until: int, count_gaps: bool) -> None:
        samples = until - t.cursor
        t.ready += SILENCE * samples
        t.silence_ranges.append((t.cursor, until))
        if count_gaps:
            self.gaps += not t.in_gap
            self.gap_samples += samples
            t.in_gap = True
        t.cursor = until

    def _interleave(self) -> bytes:
        if len(self._names) == 1:
            t = self._tracks[self._names[0]]
            mono = bytes(t.ready)
            t.ready.clear()
            return mono
        frames = min(len(t.ready) for t in self._tracks.values()) // 2
        if not frames:
            return b""
        width = 2 * len(self._names)
        out = bytearray(frames * width)
        for channel, name in enumerate(self._names):
            ready = self._tracks[name].ready
            out[2 * channel :: width] = ready[0 : frames * 2 : 2]
            out[2 * channel + 1 :: width] = ready[1 : frames * 2 : 2]
            del ready[: frames * 2]
        return bytes(out)
