from __future__ import annotations

import struct

from support.g711_reference import TABLE

from recorder.g711 import pcm16_to_ulaw, ulaw_to_pcm16


def test_decoding_matches_the_itu_table_for_every_code() -> None:
    decoded = struct.unpack("<256h", ulaw_to_pcm16(bytes(range(256))))
    assert list(decoded) == TABLE


def test_both_zero_codes_decode_to_zero() -> None:
    assert ulaw_to_pcm16(b"\xff\x7f") == b"\x00\x00\x00\x00"


def test_extremes_and_a_round_trip() -> None:
    assert struct.unpack("<2h", ulaw_to_pcm16(b"\x00\x80")) == (-32124, 32124)
    assert ulaw_to_pcm16(pcm16_to_ulaw(ulaw_to_pcm16(bytes(range(256))))) == ulaw_to_pcm16(bytes(range(256)))
