"""`make demo`: one simulated Vonage call against the stack just started, and where its recording landed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path

from callsim import vonage
from callsim.audio import read_wav, sample


def demo(answer_url: str, env: Mapping[str, str]) -> int:
    audio = read_wav(sample(16000))
    print(
        f"Calling {answer_url}: streaming {audio.duration_s:.1f} s of speech at real-time pace, with DTMF 4 2...",
        flush=True,
    )
    result = asyncio.run(vonage.call(answer_url, audio, dtmf=((1.0, "4"), (2.5, "2"))))
    recordings = Path(env["RECORDINGS_DIR"])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = sorted(recordings.glob(f"*/*/*/{result.call_id}.wav"))
        if found:
            print(f"\nRecording stored: {found[0]}\nMetadata:         {found[0].with_suffix('.json')}")
            return 0
        time.sleep(0.2)
    print(f"No recording for call {result.call_id} under {recordings} (see the recorder's log above)")
    return 1
