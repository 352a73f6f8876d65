"""Audio codecs by table: each adapter maps its provider's (encoding name, sample rate) to one of these.

Every decoder returns signed 16-bit little-endian PCM, the events' format (events.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .. import g711
from ..closing import CloseCode, ProtocolError
from ._fields import KIND, clip


def _whole_samples(payload: bytes) -> bytes:
    return payload[: len(payload) // 2 * 2]


@dataclass(frozen=True)
class Codec:
    name: str
    sample_width: int  # bytes per sample on the wire
    decode: Callable[[bytes], bytes]


MULAW = Codec("mu-law", 1, g711.ulaw_to_pcm16)  # G.711, RTP payload type PCMU (RFC 3551 section 4.5.14)
ALAW = Codec("A-law", 1, g711.alaw_to_pcm16)  # G.711, PCMA
L16_LE = Codec("L16 little-endian", 2, _whole_samples)  # an odd trailing byte is not a sample

CodecTable = Mapping[tuple[str, int], Codec]


def codec_for(table: CodecTable, encoding: object, rate: int) -> Codec:
    """The codec for a stream's declared format; 1003 for one the table does not hold."""
    if not isinstance(encoding, str):
        raise ProtocolError(CloseCode.INVALID_PAYLOAD, "the media format's encoding is not a string")
    codec = table.get((encoding.lower(), rate))
    if codec is None:
        raise ProtocolError(
            CloseCode.UNSUPPORTED_DATA, f"unsupported media format {clip(encoding, KIND)!r} at {rate} Hz"
        )
    return codec
