"""callsim.audio: any common audio file becomes the 16-bit mono PCM a stream needs, at the stream's rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from callsim.audio import AudioError, read_audio, read_wav, sample, track


def tone(path: Path, rate: int, seconds: float, hz: float = 1000.0, channels: int = 1, subtype: str = "PCM_16") -> Path:
    t = np.arange(int(rate * seconds)) / rate
    wave = 0.5 * np.sin(2 * np.pi * hz * t)
    soundfile.write(path, np.stack([wave] * channels, axis=1), rate, subtype=subtype)
    return path


def spectrum_peak_hz(pcm: bytes, rate: int) -> float:
    samples = np.frombuffer(pcm, "<i2").astype(float)
    magnitudes = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(magnitudes))])


@pytest.mark.parametrize("rate", [8000, 16000, 24000])
def test_a_bundled_sample_reads_back_sample_for_sample(rate: int) -> None:
    assert read_audio(sample(rate)) == read_wav(sample(rate))
    assert track(None, rate) == read_wav(sample(rate))


@pytest.mark.parametrize(
    ("name", "rate", "channels", "subtype"),
    [
        ("32-bit.wav", 16000, 1, "PCM_32"),
        ("float.wav", 22050, 1, "FLOAT"),
        ("stereo-44k.wav", 44100, 2, "PCM_16"),
        ("24-bit.flac", 48000, 1, "PCM_24"),
        ("8-bit.wav", 11025, 1, "PCM_U8"),
        ("speech.ogg", 44100, 2, "VORBIS"),
    ],
)
@pytest.mark.parametrize("stream_rate", [8000, 16000])
def test_any_common_file_becomes_mono_at_the_streams_rate_at_the_right_speed(
    tmp_path: Path, name: str, rate: int, channels: int, subtype: str, stream_rate: int
) -> None:
    pcm = read_audio(tone(tmp_path / name, rate, 1.5, channels=channels, subtype=subtype), stream_rate)
    assert pcm.sample_rate == stream_rate
    assert abs(pcm.duration_s - 1.5) < 0.01  # neither sped up nor slowed down
    assert abs(spectrum_peak_hz(pcm.data, stream_rate) - 1000) < 5  # the pitch survives resampling
    level = np.abs(np.frombuffer(pcm.data, "<i2")).max() / 32768
    assert 0.45 < level < 0.55  # mixed down as an average, not a sum, and not clipped


def test_resampling_does_not_alias_what_the_stream_cannot_carry(tmp_path: Path) -> None:
    """A 5 kHz tone is above 8 kHz's Nyquist limit: a correct resampler removes it rather than folding it to 3 kHz."""
    pcm = read_audio(tone(tmp_path / "high.wav", 44100, 1.0, hz=5000), 8000)
    level = np.abs(np.frombuffer(pcm.data, "<i2")[400:-400]).max() / 32768
    assert level < 0.01


def test_a_bundled_voice_missing_at_a_rate_is_converted_from_the_best_one() -> None:
    agent = track(None, 24000, "agent")
    assert agent.sample_rate == 24000
    assert abs(agent.duration_s - read_wav(sample(16000, "agent")).duration_s) < 0.001


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "no such file"),
        (b"", "not an audio file libsndfile reads"),
        (b"ID3 this is not really an MP3" * 40, "not an audio file libsndfile reads"),
    ],
    ids=["missing", "empty", "not-audio"],
)
def test_a_file_it_cannot_read_is_named_with_why(tmp_path: Path, content: bytes | None, why: str) -> None:
    path = tmp_path / "song.mp3"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AudioError, match=f"^{path}: {why}"):
        read_audio(path)
