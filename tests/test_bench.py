"""`make bench` itself, on a handful of short calls: the README's benchmark command keeps working, for both systems."""

from __future__ import annotations

import os
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
    assert f"files under {tmp_path}: " in result.stdout
    assert "CPU per frame, recorder / yardstick (medians): " in result.stdout
