"""The load generator, run in its own process: N simulated Vonage calls, started evenly over a ramp.

Prints one JSON object per call on stdout: call id, frames sent, hang-up time, its own worst pacing lag.
`--together`: every call hangs up at the same moment (the ramp's end plus `--seconds`), the first call being the
longest, so the store's work after hang-up is measured under its worst burst. `--ws-url`: stream straight to a
WebSocket (the yardstick) instead of asking the answer function for the NCCO. `--first`: the first call's number,
so that several generator processes can share one load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import uvloop

from callsim import vonage
from callsim.audio import Pcm, read_wav, sample


async def one_call(url: str, direct: bool, audio: Pcm, index: int, delay: float) -> dict[str, Any]:
    await asyncio.sleep(delay)
    call_id = f"bench-{index:04d}"
    try:
        if direct:
            endpoint = {"uri": url, "content-type": f"audio/l16;rate={audio.sample_rate}", "headers": {"uuid": call_id}}
            result = await vonage.stream(endpoint, audio, call_id=call_id)
        else:
            result = await vonage.call(url, audio, speed=1.0, call_id=call_id)
    except Exception as error:  # report it and carry on: one failed call must not hide the others' figures
        return {"call_id": call_id, "error": repr(error)}
    return {
        "call_id": result.call_id,
        "frames": result.sent_bytes // (audio.sample_rate // 50 * 2),
        "sent_bytes": result.sent_bytes,
        "hung_up": result.hung_up_at,
        "send_lag_s": result.worst_send_lag_s,
        "close_code": result.close_code,
    }


def call_audio(seconds: float, rate: int) -> Pcm:
    """The benchmark's audio, `seconds` long: the sample speech repeated (every call sends a prefix of it)."""
    speech = read_wav(sample(rate))
    repeats = int(seconds / speech.duration_s) + 1
    return Pcm((speech.data * repeats)[: int(seconds * rate) * 2], rate)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    longest = args.seconds + (args.ramp if args.together else 0)
    audio = call_audio(longest, args.rate)
    url, direct = (args.ws_url, True) if args.ws_url else (args.answer_url, False)
    calls = []
    for n in range(args.first, args.first + args.calls):
        delay = n * args.ramp / args.total
        seconds = longest - delay if args.together else args.seconds
        # Whole 20 ms frames: the hang-up moments then differ by less than a frame.
        mine = Pcm(audio.data[: int(seconds * 50) * (args.rate // 50) * 2], args.rate)
        calls.append(one_call(url, direct, mine, n, delay))
    return await asyncio.gather(*calls)


def main() -> None:
    parser = argparse.ArgumentParser()
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--answer-url")
    target.add_argument("--ws-url")
    parser.add_argument("--calls", type=int, required=True, help="calls this process places")
    parser.add_argument("--first", type=int, default=0, help="the number of this process's first call")
    parser.add_argument("--total", type=int, required=True, help="calls in the whole load (spaces the ramp)")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--ramp", type=float, required=True)
    parser.add_argument("--rate", type=int, required=True)
    parser.add_argument("--together", action="store_true", help="every call hangs up at the same moment")
    args = parser.parse_args()
    # uvloop's C event loop halves the generator's CPU per frame, so it keeps real-time pace on one core.
    results = uvloop.run(run(args))
    for result in results:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
