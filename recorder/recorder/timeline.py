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

The provider's clock is not trusted (defects #2, #15):
- A chunk more than `MAX_AHEAD_MS` (plus the window) ahead of both every track and the wall clock (`wall`, which
  the session passes: the timeline reads no clock) is a jumped clock: the track is re-anchored so that the chunk
  lands at the track's end, and it is counted in `clamped`. No hour of silence for one message.
- A chunk further back than the window, followed by one that continues it, is a restarted clock: the track is
  re-anchored at its end, counted in `discontinuities`. One straggler alone is late or a duplicate, as before.
- A chunk more than `MAX_BURST_S` ahead of the wall clock is dropped and counted in `ahead_drops`, even where it
  continues its track: a peer sending audio faster than real time (a flood of Vonage frames) can get no further
  ahead than that, so a call's file stays within its wall-clock length plus `MAX_BURST_S`. Simulators that send a
  short file at full speed stay well within it.
- Silence is filled at most `PIECE_S` at a time per call of `add`, and `flush()` yields the end in such pieces.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

SILENCE = b"\x00\x00"
MAX_AHEAD_MS = 5000
MAX_BURST_S = 300  # audio further ahead of the wall clock than this is dropped, contiguous or not
PIECE_S = 1


class _Track:
    __slots__ = ("cursor", "pending", "ready", "end", "silence_ranges", "in_gap", "offset", "restart")

    def __init__(self) -> None:
        self.cursor = 0  # next sample position to emit
        self.pending: dict[int, bytes] = {}  # position -> pcm, ahead of the cursor
        self.ready = bytearray()  # emitted, waiting to be interleaved with the other tracks
        self.end = 0  # furthest sample received
        self.silence_ranges: deque[tuple[int, int]] = deque(maxlen=64)  # recent fills, to tell late from duplicate
        self.in_gap = False
        self.offset = 0  # added to the provider's positions since the last re-anchoring
        self.restart: tuple[int, bytes] | None = None  # a chunk from far back: a restarted clock, or a straggler


@dataclass(frozen=True)
class TimelineStats:
    gaps: int
    gap_ms: int
    duplicates: int
    late: int
    clamped: int = 0
    discontinuities: int = 0
    ahead_drops: int = 0


class Timeline:
    def __init__(self, tracks: tuple[str, ...], sample_rate: int, window_ms: int) -> None:
        if not tracks:
            raise ValueError("a timeline needs at least one track")
        self._names = tracks
        self._tracks = {name: _Track() for name in tracks}
        self._mono = len(tracks) == 1
        self._sample_rate = sample_rate
        self._window = sample_rate * window_ms // 1000
        self._max_ahead = sample_rate * MAX_AHEAD_MS // 1000 + self._window
        self._max_burst = sample_rate * MAX_BURST_S
        self._piece = sample_rate * PIECE_S
        self._horizon = 0  # furthest sample position seen on any track
        self._together = False  # placing one message's tracks: no track is filled with silence until all are in
        self.gaps = 0
        self.gap_samples = 0
        self.duplicates = 0
        self.late = 0
        self.clamped = 0
        self.discontinuities = 0
        self.ahead_drops = 0

    @property
    def position_ms(self) -> int:
        """How far the call has got on the provider's clock."""
        return self._horizon * 1000 // self._sample_rate

    @property
    def stats(self) -> TimelineStats:
        gap_ms = self.gap_samples * 1000 // self._sample_rate
        return TimelineStats(
            self.gaps, gap_ms, self.duplicates, self.late, self.clamped, self.discontinuities, self.ahead_drops
        )

    def add(self, track: str, position: int, pcm: bytes, wall: int | None = None) -> bytes:
        """Take one chunk; return the interleaved frames that are now final (possibly none). `wall`: how far the
        call has got by the wall clock, in samples (None: no such bound)."""
        t = self._tracks[track]
        position += t.offset
        if self._mono and position == t.cursor and not t.pending and t.restart is None and not t.ready:
            # The hot path, one track in order with nothing waiting: the chunk is final as it is, and no other
            # track needs silence (what _place, _advance and _interleave would conclude, without the copies).
            if wall is not None and position > wall + self._max_burst:
                self.ahead_drops += 1
                return b""
            t.cursor = cursor = position + len(pcm) // 2
            t.in_gap = False
            if cursor > t.end:
                t.end = cursor
            if cursor > self._horizon:
                self._horizon = cursor
            return pcm
        if position != t.cursor or t.restart is not None:  # not simply in order: check the clock
            if t.restart is not None:
                out = self._confirm_restart(t, position, pcm)
                if out is not None:
                    return out
            if position > max(self._horizon, wall or 0) + self._max_ahead:
                self.clamped += 1
                t.offset += t.end - position
                position = t.end
            elif position + len(pcm) // 2 + self._window < t.cursor:
                t.restart = (position, pcm)
                return b""
        if wall is not None and position > wall + self._max_burst:
            self.ahead_drops += 1
            return b""
        return self._place(t, position, pcm)

    def add_all(self, chunks: Iterable[tuple[str, int, bytes]], wall: int | None = None) -> bytes:
        """Take chunks that arrived together, each as `add` would: the tracks of one message (AudioHook's and
        jambonz's interleaved channels, split by the adapter). All are placed before any track is filled with
        silence: one track's chunk reaching further than the window would otherwise fill the next track's place
        with silence before its own chunk, from the same message, got there."""
        self._together = True
        try:
            placed = [self.add(track, position, pcm, wall) for track, position, pcm in chunks]
        finally:
            self._together = False
        return b"".join(placed) + self._settle()

    def _confirm_restart(self, t: _Track, position: int, pcm: bytes) -> bytes | None:
        """With `t.restart` held: if this chunk continues it, the clock restarted; otherwise it was a straggler."""
        assert t.restart is not None
        held, held_pcm = t.restart
        t.restart = None
        if position != held + len(held_pcm) // 2:
            self._count_behind(t, held)
            return None
        self.discontinuities += 1
        shift = t.end - held
        t.offset += shift
        return self._place(t, held + shift, held_pcm) + self._place(t, position + shift, pcm)

    def _place(self, t: _Track, position: int, pcm: bytes) -> bytes:
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
        return b"" if self._together else self._settle()

    def _settle(self) -> bytes:
        """Fill what the window has given up on with silence; return the frames that are now final."""
        self._advance(self._horizon - self._window, count_gaps=True)
        return self._interleave()

    def flush(self) -> Iterator[bytes]:
        """Everything left, in pieces of at most `PIECE_S`; every track ends at the longest track's end."""
        for t in self._tracks.values():
            if t.restart is not None:
                self._count_behind(t, t.restart[0])
                t.restart = None
        end = max(t.end for t in self._tracks.values())
        while True:
            self._advance(end, count_gaps=False)
            piece = self._interleave()
            if piece:
                yield piece
            if all(t.cursor >= end for t in self._tracks.values()):
                return

    def finish(self) -> bytes:
        return b"".join(self.flush())

    def _count_behind(self, t: _Track, position: int) -> None:
        if any(start <= position < stop for start, stop in t.silence_ranges):
            self.late += 1
        else:
            self.duplicates += 1

    def _advance(self, until: int, count_gaps: bool) -> None:
        for t in self._tracks.values():
            limit = min(until, t.cursor + self._piece)  # never more than a piece of silence at once
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
