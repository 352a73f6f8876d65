"""ITU-T G.711 mu-law and A-law decoding written out from the standard, independent of audioop, for the tests."""

from __future__ import annotations

import struct

BIAS = 0x84


def decode_code(code: int) -> int:
    inverted = ~code & 0xFF
    magnitude = (((inverted & 0x0F) << 3) + BIAS) << ((inverted >> 4) & 0x07)
    return BIAS - magnitude if inverted & 0x80 else magnitude - BIAS


TABLE = [decode_code(code) for code in range(256)]


def decode(ulaw: bytes) -> bytes:
    return struct.pack(f"<{len(ulaw)}h", *(TABLE[code] for code in ulaw))


def decode_alaw_code(code: int) -> int:
    """G.711 A-law: even bits inverted (XOR 0x55); bit 7 set means positive; 3-bit segment, 4-bit step."""
    value = code ^ 0x55
    segment, step = (value >> 4) & 0x07, value & 0x0F
    magnitude = (step << 4) + 8 if segment == 0 else ((step << 4) + 0x108) << (segment - 1)
    return magnitude if value & 0x80 else -magnitude


ALAW_TABLE = [decode_alaw_code(code) for code in range(256)]


def decode_alaw(alaw: bytes) -> bytes:
    return struct.pack(f"<{len(alaw)}h", *(ALAW_TABLE[code] for code in alaw))
