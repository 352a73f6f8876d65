"""ITU-T G.711 mu-law decoding written out from the standard, independent of audioop, for the tests."""

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
