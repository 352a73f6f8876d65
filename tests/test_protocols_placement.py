"""Chunk placement by cumulative samples (recorder/recorder/protocols/_placement.py)."""

from __future__ import annotations

from recorder.protocols._placement import ChunkClock, WallClockTracks


def test_in_order_chunks_follow_each_other_whatever_their_sizes() -> None:
    clock = ChunkClock(first=1, offset=100)
    assert [clock.place(n, size) for n, size in ((1, 80), (2, 160), (3, 160))] == [100, 180, 340]


def test_a_lost_chunk_leaves_room_the_size_of_the_next_one() -> None:
    clock = ChunkClock(first=2, offset=0)
    assert clock.place(3, 160) == 160  # chunk 2 lost: its 160 samples stay silent
    assert clock.place(4, 160) == 320


def test_a_reordered_chunk_goes_back_in_its_place_and_a_repeat_to_the_same() -> None:
    clock = ChunkClock(first=1, offset=0)
    assert clock.place(1, 160) == 0
    assert clock.place(3, 160) == 320
    assert clock.place(2, 160) == 160
    assert clock.place(3, 160) == 320
    assert clock.place(4, 160) == 480


def test_a_chunk_before_the_track_began_has_no_place() -> None:
    clock = ChunkClock(first=5, offset=0)
    assert clock.place(5, 160) == 0
    assert clock.place(4, 160) is None


def test_a_track_that_starts_late_starts_late_and_the_origin_is_the_first_audio() -> None:
    tracks = WallClockTracks(8000)
    assert tracks.place("inbound", 1, 1_705_312_200_000, 160) == 0
    assert tracks.place("inbound", 2, 1_705_312_200_020, 160) == 160
    assert tracks.place("outbound", 1, 1_705_312_201_000, 160) == 8000  # one second later
    assert tracks.place("outbound", 3, 1_705_312_201_040, 160) == 8320  # its chunk 2 was lost


def test_a_track_reordered_ahead_of_the_first_audio_starts_at_zero() -> None:
    tracks = WallClockTracks(8000)
    assert tracks.place("outbound", 1, 1000, 160) == 0
    assert tracks.place("inbound", 1, 990, 160) == 0
