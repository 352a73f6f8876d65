"""The streaming WAV writer: valid on disk at every patch, constant memory, whole frames only."""

from __future__ import annotations

import shutil
import struct
import wave
from pathlib import Path

import pytest

from recorder.wav import HEADER_SIZE, WavWriter, repair


def sizes(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    return struct.unpack_from("<I", data, 4)[0], struct.unpack_from("<I", data, 40)[0]


def test_sizes_after_close(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    writer = WavWriter(str(path), 16000, 1)
    writer.write(b"\x01\x00" * 1000)
    writer.close()
    assert sizes(path) == (36 + 2000, 2000)
    with wave.open(str(path)) as wav:
        assert (wav.getnframes(), wav.getframerate(), wav.getnchannels()) == (1000, 16000, 1)


def test_header_is_patched_periodically_so_a_cut_file_stays_valid(tmp_path: Path) -> None:
    path, snapshot = tmp_path / "a.wav", tmp_path / "cut.wav"
    writer = WavWriter(str(path), 8000, 1, patch_every_s=1.0)
    second = b"\x02\x00" * 8000
    writer.write(second)  # reaches the first patch point
    writer.write(second[:4000])  # written, not yet patched
    writer._file.flush()  # as if the process died now: what the OS has is what a crash leaves
    shutil.copyfile(path, snapshot)
    writer.close()

    assert sizes(snapshot) == (36 + 16000, 16000)  # valid up to the last patch
    with wave.open(str(snapshot)) as wav:
        assert wav.getnframes() == 8000
    assert repair(str(snapshot), channels=1) == 8000 + 2000  # and repair recovers the rest
    with wave.open(str(snapshot)) as wav:
        assert wav.readframes(10000) == second + second[:4000]


def test_repair_drops_a_partial_frame(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    writer = WavWriter(str(path), 8000, 2)
    writer.write(b"\x01\x00\x02\x00" * 10)
    writer.close()
    with path.open("ab") as f:
        f.write(b"\x09\x09\x09")  # a stereo frame cut short
    assert repair(str(path), channels=2) == 10
    assert path.stat().st_size == HEADER_SIZE + 40


@pytest.mark.parametrize("channels", [1, 2])
def test_partial_frames_are_carried_to_the_next_write(tmp_path: Path, channels: int) -> None:
    path = tmp_path / "a.wav"
    writer = WavWriter(str(path), 8000, channels)
    data = bytes(range(200))
    for start in range(0, 200, 7):  # odd-sized pieces
        writer.write(data[start : start + 7])
    writer.write(b"\xff")  # a stray byte at the end is dropped, not written as half a sample
    writer.close()
    with wave.open(str(path)) as wav:
        assert wav.readframes(1000) == data


def test_never_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        WavWriter(str(path), 8000, 1)
    assert path.read_bytes() == b"keep"
