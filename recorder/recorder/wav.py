"""The WAV header. A RIFF header's sizes are only known at the end, so the recording keeps its audio headerless
(segments in the spool and the store) and puts this header in front when it assembles the final file."""

from __future__ import annotations

import struct

HEADER_SIZE = 44


def header(sample_rate: int, channels: int, data_bytes: int) -> bytes:
    """The canonical 44-byte PCM WAV header for 16-bit samples."""
    block_align = channels * 2
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,  # fmt chunk size
        1,  # PCM
        channels,
        sample_rate,
        sample_rate * block_align,
        block_align,
        16,
        b"data",
        data_bytes,
    )
