"""A streaming WAV writer: constant memory whatever the call's length, valid on disk at every header patch.

A RIFF header's sizes are only known at the end, so the writer appends PCM and rewrites the two size fields
every `patch_every_s` seconds of audio and on close: a file cut short by a crash is a valid WAV up to its last
patch, and `repair()` recovers everything that reached the disk.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

HEADER_SIZE = 44
_RIFF_SIZE_OFFSET = 4
_DATA_SIZE_OFFSET = 40


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


class WavWriter:
    def __init__(self, path: str, sample_rate: int, channels: int, patch_every_s: float = 5.0) -> None:
        self.path = path
        self.sample_rate = sample_rate
        self.channels = channels
        self._block_align = channels * 2
        self._patch_every = int(patch_every_s * sample_rate) * self._block_align
        self._file: BinaryIO = open(path, "xb", buffering=64 * 1024)  # noqa: SIM115 - closed in close()
        self._file.write(header(sample_rate, channels, 0))
        self.data_bytes = 0
        self._next_patch = self._patch_every
        self._carry = b""  # a partial frame waiting for the rest of its bytes

    @property
    def frames(self) -> int:
        return self.data_bytes // self._block_align

    def write(self, pcm: bytes) -> None:
        if self._carry:
            pcm = self._carry + pcm
            self._carry = b""
        partial = len(pcm) % self._block_align
        if partial:
            self._carry = pcm[-partial:]
            pcm = pcm[:-partial]
        if not pcm:
            return
        self._file.write(pcm)
        self.data_bytes += len(pcm)
        if self.data_bytes >= self._next_patch:
            self._patch()
            self._next_patch = self.data_bytes + self._patch_every

    def close(self) -> None:
        """Drop any partial frame and patch the sizes. No fsync: the store reads the file next, and a killed
        process leaves it in the page cache; an fsync would stall every call in a gevent worker."""
        if self._file.closed:
            return
        self._patch()
        self._file.close()

    def _patch(self) -> None:
        self._file.flush()
        _write_sizes(self._file.fileno(), self.data_bytes)


def _write_sizes(fd: int, data_bytes: int) -> None:
    os.pwrite(fd, struct.pack("<I", 36 + data_bytes), _RIFF_SIZE_OFFSET)
    os.pwrite(fd, struct.pack("<I", data_bytes), _DATA_SIZE_OFFSET)


def repair(path: str, channels: int) -> int:
    """Patch a cut-short file's header to cover every whole frame on disk; return the frame count."""
    block_align = channels * 2
    size = os.path.getsize(path)
    data_bytes = max(0, size - HEADER_SIZE) // block_align * block_align
    with open(path, "r+b") as f:
        f.truncate(HEADER_SIZE + data_bytes)
        _write_sizes(f.fileno(), data_bytes)
    return data_bytes // block_align
