from __future__ import annotations

import struct

from support.g711_reference import ALAW_TABLE, TABLE

from recorder.g711 import alaw_to_pcm16, pcm16_to_ulaw, ulaw_to_pcm16


def test_decoding_matches_the_itu_table_for_every_code() -> None:
    decoded = struct.unpack("<256h", ulaw_to_pcm16(bytes(range(256))))
    assert list(decoded) == TABLE


def test_both_zero_codes_decode_to_zero() -> None:
    assert ulaw_to_pcm16(b"\xff\x7f") == b"\x00\x00\x00\x00"


def test_extremes_and_a_round_trip() -> None:
    assert struct.unpack("<2h", ulaw_to_pcm16(b"\x00\x80")) == (-32124, 32124)
    assert ulaw_to_pcm16(pcm16_to_ulaw(ulaw_to_pcm16(bytes(range(256))))) == ulaw_to_pcm16(bytes(range(256)))


def test_alaw_decoding_matches_the_itu_table_for_every_code() -> None:
    decoded = struct.unpack("<256h", alaw_to_pcm16(bytes(range(256))))
    assert list(decoded) == ALAW_TABLE


def test_alaw_extremes_and_its_smallest_steps() -> None:
    # G.711 Table 1a/1b: 0xD5 and 0x55 are the smallest positive and negative steps; 0xAA and 0x2A the largest.
    assert struct.unpack("<4h", alaw_to_pcm16(b"\xd5\x55\xaa\x2a")) == (8, -8, 32256, -32256)
