"""The timeline places audio by the provider's position, never by arrival."""

from __future__ import annotations

import struct

from recorder.timeline import Timeline


def pcm(*samples: int) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def chunk(value: int, samples: int = 4) -> bytes:
    return pcm(*[value] * samples)


def mono(window_ms: int = 0) -> Timeline:
    # 1000 Hz: one sample per millisecond keeps positions readable.
    return Timeline(("a",), 1000, window_ms)


def test_in_order_audio_passes_straight_through() -> None:
    timeline = mono()
    assert timeline.add("a", 0, chunk(1)) == chunk(1)
    assert timeline.add("a", 4, chunk(2)) == chunk(2)
    assert timeline.finish() == b""
    assert timeline.stats.gaps == 0


def test_a_gap_becomes_silence_once_the_window_has_passed() -> None:
    timeline = mono(window_ms=8)
    out = timeline.add("a", 0, chunk(1))
    out += timeline.add("a", 8, chunk(3))  # samples 4-7 missing; within the window: wait
    assert out == chunk(1)
    out += timeline.add("a", 12, chunk(4))
    out += timeline.add("a", 16, chunk(5))  # furthest is 20: the hole at 4 is older than 8 samples
    out += timeline.finish()
    assert out == chunk(1) + chunk(0) + chunk(3) + chunk(4) + chunk(5)
    assert (timeline.stats.gaps, timeline.stats.gap_ms) == (1, 4)


def test_reordered_chunks_within_the_window_are_put_back_in_order() -> None:
    timeline = mono(window_ms=20)
    out = b"".join(
        timeline.add("a", position, chunk(value)) for position, value in [(0, 1), (8, 3), (4, 2), (16, 5), (12, 4)]
    )
    out += timeline.finish()
    assert out == b"".join(chunk(v) for v in (1, 2, 3, 4, 5))
    assert timeline.stats == type(timeline.stats)(0, 0, 0, 0, 0, 0, 0)


def test_duplicates_are_dropped_and_counted() -> None:
    timeline = mono(window_ms=20)
    out = timeline.add("a", 0, chunk(1)) + timeline.add("a", 0, chunk(9))  # already written
    out += timeline.add("a", 8, chunk(3)) + timeline.add("a", 8, chunk(9))  # already waiting
    out += timeline.add("a", 4, chunk(2)) + timeline.finish()
    assert out == chunk(1) + chunk(2) + chunk(3)
    assert timeline.stats.duplicates == 2


def test_a_chunk_later_than_the_window_is_dropped_and_counted_as_late() -> None:
    timeline = mono(window_ms=4)
    out = timeline.add("a", 0, chunk(1)) + timeline.add("a", 8, chunk(3)) + timeline.add("a", 12, chunk(4))
    out += timeline.add("a", 4, chunk(2))  # its place was filled with silence already
    out += timeline.finish()
    assert out == chunk(1) + chunk(0) + chunk(3) + chunk(4)
    assert (timeline.stats.late, timeline.stats.duplicates) == (1, 0)


def test_an_overlapping_chunk_keeps_only_its_new_part() -> None:
    timeline = mono()
    out = timeline.add("a", 0, pcm(1, 2, 3, 4)) + timeline.add("a", 2, pcm(3, 4, 5, 6)) + timeline.finish()
    assert out == pcm(1, 2, 3, 4, 5, 6)


def test_tracks_interleave_sample_aligned_and_end_at_the_longest() -> None:
    timeline = Timeline(("in", "out"), 1000, 10)
    out = timeline.add("in", 0, pcm(1, 2))
    out += timeline.add("out", 1, pcm(20))  # starts one sample later
    out += timeline.add("in", 2, pcm(3, 4))
    out += timeline.finish()
    assert out == pcm(1, 0, 2, 20, 3, 0, 4, 0)


def test_a_silent_track_cannot_hold_back_memory_or_the_file() -> None:
    timeline = Timeline(("in", "out"), 1000, 10)
    written = b"".join(timeline.add("in", n * 4, chunk(1)) for n in range(100))  # "out" never speaks
    assert len(written) >= (400 - 10 - 4) * 4  # all but the window is already final, as stereo frames
    written += timeline.finish()
    assert written == pcm(1, 0) * 400


def test_a_jump_far_ahead_of_every_track_and_the_wall_clock_is_clamped() -> None:
    # defects #2: three messages each an hour ahead; one second of real audio at 8 kHz
    timeline = Timeline(("in",), 8000, 200)
    out, position = b"", 0
    for n in range(50):
        if n in (10, 20, 30):
            position += 3600 * 8000
        out += timeline.add("in", position, chunk(n + 1, 160), wall=(n + 1) * 160)
        position += 160
    out += timeline.finish()
    assert out == b"".join(chunk(n + 1, 160) for n in range(50))  # nothing inserted, nothing lost
    assert timeline.stats.clamped == 3


def test_a_jump_the_wall_clock_allows_is_a_gap_filled_in_bounded_pieces() -> None:
    # A provider that sent nothing for a minute of real time (Twilio sends no silence at times).
    timeline = Timeline(("in",), 8000, 200)
    pieces = [timeline.add("in", 0, chunk(1, 160), wall=160)]
    pieces.append(timeline.add("in", 60 * 8000, chunk(2, 160), wall=60 * 8000))
    pieces += [timeline.add("in", 60 * 8000 + 160 * n, chunk(3, 160), wall=60 * 8000) for n in range(1, 100)]
    pieces += list(timeline.flush())
    assert timeline.stats.clamped == 0
    # At most a second of silence per piece, plus the audio that waited behind it (here 59 chunks, 1.2 s):
    # never the minute (960,000 bytes) in one block.
    assert max(len(piece) for piece in pieces) <= (8000 + 60 * 160) * 2
    assert b"".join(pieces) == chunk(1, 160) + chunk(0, 60 * 8000 - 160) + chunk(2, 160) + chunk(3, 160) * 99


def test_the_end_is_flushed_in_bounded_pieces() -> None:
    timeline = Timeline(("in", "out"), 8000, 200)
    pieces = [timeline.add("in", 0, chunk(1, 160))]
    pieces.append(timeline.add("out", 30 * 8000, chunk(2, 160), wall=30 * 8000))  # 30 s on; "in" silent
    pieces += list(timeline.flush())
    assert len(pieces) >= 30 and max(len(piece) for piece in pieces) <= 2 * 2 * (8000 + 160)
    assert len(b"".join(pieces)) == (30 * 8000 + 160) * 4


def test_a_clock_that_restarts_is_a_discontinuity_not_the_rest_of_the_call_as_duplicates() -> None:
    # defects #15: Twilio timestamps restarting at 10 s; 20 s sent, 20 s recorded
    timeline = Timeline(("in",), 1000, 200)
    out = b"".join(timeline.add("in", n * 20, chunk(1, 20)) for n in range(500))
    out += b"".join(timeline.add("in", n * 20, chunk(2, 20)) for n in range(500))
    out += timeline.finish()
    assert out == chunk(1, 10000) + chunk(2, 10000)
    assert (timeline.stats.discontinuities, timeline.stats.duplicates) == (1, 0)


def test_one_straggler_from_far_back_is_late_not_a_discontinuity() -> None:
    timeline = Timeline(("in",), 1000, 20)
    out = b"".join(timeline.add("in", n * 20, chunk(1, 20)) for n in range(50))
    out += timeline.add("in", 100, chunk(9, 20))  # a second late: far behind the window
    out += b"".join(timeline.add("in", n * 20, chunk(1, 20)) for n in range(50, 60))
    out += timeline.finish()
    assert out == chunk(1, 1200)
    assert (timeline.stats.discontinuities, timeline.stats.duplicates + timeline.stats.late) == (0, 1)


def test_audio_far_ahead_of_the_wall_clock_is_dropped_even_in_order() -> None:
    """A flood of contiguous audio (Vonage's positions are a running count) gets no further ahead than 300 s."""
    timeline = Timeline(("in",), 1000, 200)
    out = b"".join(timeline.add("in", n * 1000, chunk(1, 1000), wall=0) for n in range(400))
    out += timeline.finish()
    assert len(out) == 301 * 1000 * 2  # up to position 300 s, its last chunk included
    assert timeline.stats.ahead_drops == 99


def test_a_message_longer_than_the_window_costs_its_second_track_nothing() -> None:
    # AudioHook and jambonz send every track of a moment in one message (the adapter splits it): a message of 2 s
    # must not have its first track's end fill the second track with silence before the second is placed.
    timeline = Timeline(("a", "b"), 1000, 100)
    left, right = chunk(1, 2000), chunk(2, 2000)
    out = timeline.add_all([("a", 0, left), ("b", 0, right)]) + timeline.finish()
    assert out == b"".join(pcm(1, 2) for _ in range(2000))
    assert timeline.stats.gaps == 0
