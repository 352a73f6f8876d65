"""`make bench` itself, on a handful of short calls: the README's benchmark command keeps working, for both systems."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_benchmark_stores_every_call_bit_exact_on_both_systems(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench", "--calls", "6", "--seconds", "2", "--ramp", "0.5"]
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # where every system's files go, as the header line says
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    rounds = result.stdout.split("\nround ")[1:]
    assert [r.partition("\n")[0] for r in rounds] == [
        "1 of 4: recorder",
        "2 of 4: yardstick",
        "3 of 4: yardstick",
        "4 of 4: recorder",
    ]
    for text in rounds:
        assert "calls stored                   6 of 6\n" in text, text
        assert "bit-exact                      all\n" in text, text
        assert hang_up_cpu_ms(text)["worker"] > 0, text
    for text in (rounds[0], rounds[3]):  # the recorder's: its stores' own time, and the floor it puts under p50
        [row] = [line for line in text.splitlines() if line.strip().startswith("stores, one after another")]
        each, floor = re.findall(r"([\d.]+) ms each at the median.*no p50 under (\d+) ms", row)[0]
        assert float(each) > 0 and int(floor) >= 0, row
    assert "stores, one after another" not in rounds[1] + rounds[2]  # the yardstick does not say
    assert f"files under {tmp_path}: " in result.stdout
    assert "CPU per frame, recorder / yardstick (medians): " in result.stdout


@pytest.mark.slow
def test_on_the_emulator_the_benchmark_tells_the_emulators_cpu_from_the_workers(tmp_path: Path) -> None:
    # In a burst of hang-ups the emulator, on the other core, can be the one that is saturated.
    command = [sys.executable, "-m", "bench", "--sink", "gcs", "--only", "recorder", "--calls", "4", "--seconds", "2"]
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    result = subprocess.run([*command, "--ramp", "0.5"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "calls stored                   4 of 4\n" in result.stdout, result.stdout
    spent = hang_up_cpu_ms(result.stdout)
    assert spent["worker"] > 0 and spent["emulator"] > 0, result.stdout


@pytest.mark.slow
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: nothing to keep apart")
def test_every_round_keeps_the_worker_and_the_generator_on_cores_apart(tmp_path: Path) -> None:
    # The harness moves itself off the worker's core in the first round; reading the machine's cores from its own
    # affinity after that left the second round's worker and generator sharing one core.
    command = [sys.executable, "-m", "bench", "--only", "recorder", "--rounds", "2", "--calls", "3", "--seconds", "1"]
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    result = subprocess.run([*command, "--ramp", "0.2"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split(None, 1)[1] for line in result.stdout.splitlines() if line.strip().startswith("cores ")]
    first, *others = sorted(os.sched_getaffinity(0))
    assert rows == [f"worker on [{first}], generators on {others}, apart"] * 2, result.stdout


def hang_up_cpu_ms(text: str) -> dict[str, float]:
    """The round's "CPU from hang-up to last store" row: milliseconds of CPU per process."""
    [row] = [line for line in text.splitlines() if line.strip().startswith("CPU from hang-up to last store")]
    return {name: float(ms) for name, ms in re.findall(r"(worker|emulator) (\d+) ms", row)}
