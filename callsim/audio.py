"""The audio a simulated call streams: the bundled speech samples, or any file libsndfile reads, as the stream
needs it (16-bit mono PCM at the stream's rate; the provider modules encode G.711 from that)."""

from __future__ import annotations

import os
import warnings
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # removed in 3.13, where audioop-lts provides it
    import audioop

SAMPLES = Path(__file__).parent / "samples"
FRAME_S = 0.020  # providers send 20 ms of audio per message
VOICES = ("caller", "agent")


class AudioError(ValueError):
    """A file the simulator cannot stream; the message names it and says why."""


@dataclass(frozen=True)
class Pcm:
    data: bytes  # signed 16-bit little-endian, mono
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.data) / 2 / self.sample_rate

    def frames(self, frame_s: float = FRAME_S) -> list[bytes]:
        size = int(self.sample_rate * frame_s) * 2
        return [self.data[i : i + size] for i in range(0, len(self.data), size)]


def read_wav(path: str | Path) -> Pcm:
    """A 16-bit mono WAV exactly as stored: the bundled samples, which the tests compare recordings with."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise AudioError(f"{path}: need 16-bit mono PCM, got {wav.getsampwidth() * 8}-bit x{wav.getnchannels()}")
        return Pcm(wav.readframes(wav.getnframes()), wav.getframerate())


def read_audio(path: str | Path, rate: int | None = None) -> Pcm:
    """Any file libsndfile reads (WAV of any bit depth or float, FLAC, Ogg Vorbis or Opus, MP3, AIFF, ...),
    its channels mixed down to one, resampled to `rate` (default: the file's own).

    16-bit mono at the file's own rate comes back sample for sample: libsndfile scales 16-bit to float by
    1/32768, which float32 holds exactly. Resampling is soxr's very high quality (linear phase, no audible
    aliasing), as sox itself does it.
    """
    file = Path(path)
    if not file.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        with _quiet_stderr():  # libmpg123 prints "Note: ..." lines of its own on a damaged MP3
            samples, native_rate = soundfile.read(file, dtype="float32", always_2d=True)
    except soundfile.LibsndfileError as error:
        raise AudioError(f"{path}: not an audio file libsndfile reads (WAV, FLAC, Ogg, MP3, AIFF, ...)") from error
    if not len(samples):
        raise AudioError(f"{path}: holds no audio")
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    if rate and rate != native_rate:
        mono = soxr.resample(mono, native_rate, rate, quality="VHQ")
    pcm = np.clip(np.round(mono * 32768.0), -32768, 32767).astype("<i2")
    return Pcm(pcm.tobytes(), rate or int(native_rate))


def sample(rate: int, voice: str = "caller") -> Path:
    """A bundled speech sample (espeak-ng, resampled with sox -D) at 8000, 16000 or 24000 Hz."""
    return SAMPLES / f"{voice}-{rate}.wav"


def track(path: str | Path | None, rate: int, voice: str = "caller") -> Pcm:
    """The audio for one track of a stream at `rate`: the file at `path` converted, or else the bundled sample
    recorded at that rate (converted from the best one there is when none was)."""
    if path is not None:
        return read_audio(path, rate)
    if sample(rate, voice).exists():
        return read_wav(sample(rate, voice))
    best = max(SAMPLES.glob(f"{voice}-*.wav"), key=lambda candidate: int(candidate.stem.split("-")[1]))
    return read_audio(best, rate)


def to_ulaw(pcm: bytes) -> bytes:
    """G.711 mu-law, as Twilio and Voxology send it."""
    return audioop.lin2ulaw(pcm, 2)


def to_alaw(pcm: bytes) -> bytes:
    """G.711 A-law, as Asterisk sends `alaw`."""
    return audioop.lin2alaw(pcm, 2)


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
