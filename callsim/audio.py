"""Reading the WAV files a simulated call streams."""

from __future__ import annotations

import warnings
import wave
from dataclasses import dataclass
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # removed in 3.13, where audioop-lts provides it
    import audioop

SAMPLES = Path(__file__).parent / "samples"
FRAME_S = 0.020  # providers send 20 ms of audio per message


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
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise ValueError(f"{path}: need 16-bit mono PCM, got {wav.getsampwidth() * 8}-bit x{wav.getnchannels()}")
        return Pcm(wav.readframes(wav.getnframes()), wav.getframerate())


def sample(rate: int, voice: str = "caller") -> Path:
    """A bundled speech sample (espeak-ng, resampled with sox -D) at 8000, 16000 or 24000 Hz."""
    return SAMPLES / f"{voice}-{rate}.wav"


def to_ulaw(pcm: bytes) -> bytes:
    """G.711 mu-law, as Twilio and Voxology send it."""
    return audioop.lin2ulaw(pcm, 2)


def to_alaw(pcm: bytes) -> bytes:
    """G.711 A-law, as Asterisk sends `alaw`."""
    return audioop.lin2alaw(pcm, 2)
