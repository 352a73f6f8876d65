"""`python -m callsim` as a person runs it (`make call`): the stream at the rate the answer document asked for,
whatever file it is given; what it actually sent and where the recording went; one line for what went wrong."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
from support.stack import BUCKET, Stack, running_stack
from support.terminal import Terminal

from callsim.audio import read_wav, sample
from devstack import free_port

ROOT = Path(__file__).resolve().parents[1]
MAX_CALL_S = 2  # the stack's recorder ends longer calls (wall clock): how a call is cut short here
STORED = re.compile(
    r"^stored (?P<seconds>[\d.]+) s, (?P<rate>\d+) Hz (?P<layout>mono|\d channels): (?P<path>\S+)$", re.MULTILINE
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("callsim-stack")
    with running_stack(tmp, None, rates=(8000, 16000), MAX_CALL_SECONDS=str(MAX_CALL_S)) as stack:
        yield stack


def callsim(*args: str, stack: Stack | None = None, rate: int = 16000) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if stack is not None:
        args = ("--function-url", f"http://127.0.0.1:{stack.function_ports[rate]}", *args)
        if stack.gcs is not None:
            env.update(RECORDINGS_BUCKET=BUCKET, STORAGE_EMULATOR_HOST=stack.gcs.url)
        else:
            assert stack.recordings_dir is not None
            args = ("--recordings", str(stack.recordings_dir), *args)
    return subprocess.run(
        [sys.executable, "-m", "callsim", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def stored(result: subprocess.CompletedProcess[str]) -> re.Match[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    match = STORED.search(result.stdout)
    assert match, result.stdout
    return match


@pytest.mark.parametrize("rate", [8000, 16000])
def test_vonage_streams_the_bundled_sample_recorded_at_the_rate_the_ncco_asks_for(stack: Stack, rate: int) -> None:
    """SAMPLE_RATE=8000 make run, then make call: the 8 kHz sample, stored at 8 kHz, sample for sample."""
    report = stored(callsim("--speed", "0", stack=stack, rate=rate))
    assert report["rate"] == str(rate) and report["layout"] == "mono" and report["seconds"] == "6.91"
    with soundfile.SoundFile(report["path"]) as wav:
        assert wav.read(dtype="int16").tobytes() == read_wav(sample(rate)).data


@pytest.mark.parametrize("provider", ["vonage", "twilio", "voxology"])
def test_a_32_bit_stereo_44k_file_is_converted_to_what_the_stream_carries(
    stack: Stack, tmp_path: Path, provider: str
) -> None:
    t = np.arange(44100 * 3) / 44100
    soundfile.write(tmp_path / "own.wav", np.stack([0.4 * np.sin(2 * np.pi * 440 * t)] * 2, 1), 44100, "PCM_32")
    own = str(tmp_path / "own.wav")
    result = callsim("--provider", provider, "--wav", own, "--one-track", "--speed", "0", stack=stack)
    report = stored(result)
    assert report["rate"] == ("16000" if provider == "vonage" else "8000")
    assert float(report["seconds"]) == pytest.approx(3.0, abs=0.02)  # the right speed: 3 s of audio, 3 s stored
    assert re.search(r"sent 3\.00 s of audio", result.stdout), result.stdout


def test_a_recording_in_a_bucket_is_reported_by_its_gs_url(gcs_stack: Stack) -> None:
    result = callsim("--provider", "twilio", "--speed", "0", stack=gcs_stack)
    report = stored(result)
    assert report["path"].startswith(f"gs://{BUCKET}/") and report["path"].endswith(".wav")
    assert report["rate"] == "8000" and report["layout"] == "2 channels" and report["seconds"] == "6.91"
    assert f"metadata: gcloud storage objects describe {report['path']}" in result.stdout
    assert result.stderr == ""  # nothing from the storage client either


def test_it_reports_what_it_sent_when_the_recorder_ends_the_call_early(stack: Stack) -> None:
    result = callsim("--speed", "1", stack=stack)
    assert result.returncode == 1
    match = re.search(r"sent ([\d.]+) s of audio", result.stdout)
    assert match, result.stdout
    sent = float(match[1])
    assert MAX_CALL_S - 0.5 < sent < MAX_CALL_S + 1.0, result.stdout  # not the sample's 6.91 s
    assert "the recorder closed with 1008" in result.stdout


def test_a_terminal_sees_a_live_counter_and_a_log_does_not(stack: Stack) -> None:
    assert stack.recordings_dir is not None
    command = [sys.executable, "-m", "callsim", "--speed", "8", "--recordings", str(stack.recordings_dir)]
    env = {**os.environ, "FUNCTION_PORT": str(stack.function_ports[16000])}
    with Terminal(command, cwd=ROOT, env=env) as terminal:
        assert terminal.wait_for_exit(timeout=60) == 0
    assert re.search(r"\rvonage call:\s+[\d.]+ s of 6\.9 s", terminal.output), terminal.output
    assert STORED.search(terminal.output.replace("\r\n", "\n"))
    piped = callsim("--speed", "8", stack=stack)
    assert "\r" not in piped.stdout + piped.stderr and STORED.search(piped.stdout)


def test_no_stack_running_is_one_line_saying_to_start_one() -> None:
    port = free_port()
    result = callsim("--function-url", f"http://127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stderr == (
        f"error: nothing answers at http://127.0.0.1:{port}/vonage/answer ([Errno 111] Connection refused): "
        "start `make run` in another terminal\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--dtmf", "x@1"), "the digit must be one of 0-9 * # A-D, not 'x'"),
        (("--dtmf", "5@99"), "--dtmf 5@99: after the end of the audio (6.91 s)"),
        (("--dtmf", "5@-1"), "a digit cannot come before the call starts"),
        (("--speed", "-1"), "expected 0 (as fast as possible) or a positive factor"),
        (("--rate", "8000"), "--rate applies to --encoding l16 only"),
        (("--wav", "missing.wav"), "error: missing.wav: no such file"),
    ],
)
def test_bad_options_are_refused_before_any_call(args: tuple[str, ...], message: str) -> None:
    result = callsim(*args, "--function-url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 2
    assert message in result.stderr.splitlines()[-1] and "Traceback" not in result.stderr


def test_ctrl_c_hangs_up_the_call_without_a_traceback(stack: Stack) -> None:
    env = {**os.environ, "FUNCTION_PORT": str(stack.function_ports[16000])}
    with Terminal([sys.executable, "-m", "callsim", "--call-id", "hung-up"], cwd=ROOT, env=env) as terminal:
        terminal.wait_for("1.0 s of 6.9 s", timeout=30)  # streaming for a second
        terminal.press_ctrl_c()
        assert terminal.wait_for_exit(timeout=30) == 130
    assert "hung up with Ctrl-C" in terminal.output and "Traceback" not in terminal.output
    assert stack.stored("hung-up").metadata["end_reason"]  # what was sent is stored, as for any hang-up
