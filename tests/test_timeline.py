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
    assert timeline.stats == type(timeline.stats)(0, 0, 0, 0)


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
