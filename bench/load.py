"""The load generator, run in its own process: N simulated Vonage calls, started evenly over a ramp.

Prints one JSON object per call on stdout: call id, frames sent, hang-up time, its own worst pacing lag.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import uvloop

from callsim import vonage
from callsim.audio import Pcm, read_wav, sample


async def one_call(answer_url: str, audio: Pcm, index: int, delay: float) -> dict[str, Any]:
    await asyncio.sleep(delay)
    try:
        result = await vonage.call(answer_url, audio, speed=1.0, call_id=f"bench-{index:04d}")
    except Exception as error:  # report it and carry on: one failed call must not hide the others' figures
        return {"call_id": f"bench-{index:04d}", "error": repr(error)}
    return {
        "call_id": result.call_id,
        "frames": result.sent_bytes // (audio.sample_rate // 50 * 2),
        "hung_up": result.hung_up_at,
        "send_lag_s": result.worst_send_lag_s,
        "close_code": result.close_code,
    }


async def run(answer_url: str, calls: int, seconds: float, ramp: float, rate: int) -> list[dict[str, Any]]:
    speech = read_wav(sample(rate))
    repeats = int(seconds / speech.duration_s) + 1
    audio = Pcm((speech.data * repeats)[: int(seconds * rate) * 2], rate)
    return await asyncio.gather(*(one_call(answer_url, audio, n, n * ramp / calls) for n in range(calls)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--answer-url", required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--ramp", type=float, required=True)
    parser.add_argument("--rate", type=int, required=True)
    args = parser.parse_args()
    # uvloop's C event loop halves the generator's CPU per frame, so it keeps real-time pace on one core.
    results = uvloop.run(run(args.answer_url, args.calls, args.seconds, args.ramp, args.rate))
    for result in results:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
