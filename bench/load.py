"""The load generator, run in its own process: N simulated Vonage calls, started evenly over a ramp.

Prints one JSON object per call on stdout: call id, frames and bytes sent, hang-up time, its own worst lag.

Each call opens its WebSocket as Vonage does (the NCCO from the answer function, or `--ws-url` straight to the
yardstick), sends websocket:connected, then one 20 ms binary frame per tick. One ticker sends every call's frame
(a call starts on the tick after its handshake, so frame k is due exactly k ticks later), as bytes framed and
masked once for all calls: a coroutine and a websockets send per frame cost ~25 us of CPU, and 1,000 calls'
50,000 frames a second outran this process's core. `--together`: every call hangs up on the same tick (the ramp's
end plus `--seconds`), so the store's work after hang-up is measured under its worst burst. `--first`: the first
call's number, so that several generator processes can share one load.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import uvloop
from websockets.asyncio.client import connect
from websockets.speedups import apply_mask

from callsim import vonage
from callsim.audio import Pcm, read_wav, sample
from callsim.common import recorder_close_code

TICK_S = 0.02  # Vonage's frame: 20 ms


def call_audio(seconds: float, rate: int) -> Pcm:
    """The benchmark's audio, `seconds` long: the sample speech repeated (every call sends a prefix of it)."""
    speech = read_wav(sample(rate))
    repeats = int(seconds / speech.duration_s) + 1
    return Pcm((speech.data * repeats)[: int(seconds * rate) * 2], rate)


def masked_frames(audio: Pcm) -> list[bytes]:
    """Each 20 ms of `audio` as a final, masked binary frame (RFC 6455 section 5.2); one mask for all of them."""
    key = os.urandom(4)
    frames = []
    for payload in audio.frames():
        frames.append(bytes((0x82, 0x80 | 126)) + struct.pack("!H", len(payload)) + key + apply_mask(payload, key))
    return frames


@dataclass(eq=False)
class Call:
    call_id: str
    transport: asyncio.WriteTransport
    frames: list[bytes]
    count: int  # frames to send
    sent: int = 0
    worst_lag_s: float = 0.0
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Ticker:
    """Sends each live call its next frame every `TICK_S`, and measures its own lateness against that."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.tick = 0
        self._start = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._start = loop.time()
        while True:
            self.tick += 1
            due = self._start + self.tick * TICK_S
            await asyncio.sleep(max(0.0, due - loop.time()))
            late = loop.time() - due
            live = []
            for call in self.calls:
                call.worst_lag_s = max(call.worst_lag_s, late)
                call.transport.write(call.frames[call.sent])
                call.sent += 1
                if call.sent < call.count:
                    live.append(call)
                else:
                    call.done.set_result(None)
            self.calls = live


Target = tuple[str, dict[str, str], dict[str, str]]  # the stream's URI, its upgrade's headers, websocket:connected's


def target(args: argparse.Namespace, call_id: str) -> Target:
    """Where the call's stream goes: the NCCO's websocket endpoint (from the answer function), or the yardstick."""
    if args.ws_url:
        return args.ws_url, {}, {"uuid": call_id}
    ncco = vonage.fetch_ncco(args.answer_url, call_id, "15550100001", "15550100002")
    endpoint = vonage.websocket_endpoint(ncco)
    auth = endpoint.get("authorization") or {}
    headers = {"Authorization": auth["value"]} if auth.get("type") == "custom" else {}
    return endpoint["uri"], headers, endpoint.get("headers", {})


async def one_call(
    args: argparse.Namespace, ticker: Ticker, frames: list[bytes], index: int, answered: Target | BaseException
) -> dict[str, Any]:
    delay = index * args.ramp / args.total
    await asyncio.sleep(delay)
    call_id = f"bench-{index:04d}"
    try:
        if isinstance(answered, BaseException):
            raise answered
        uri, headers, extra = answered
        connected = {"event": "websocket:connected", "content-type": f"audio/l16;rate={args.rate}", **extra}
        async with connect(uri, additional_headers=headers, max_size=None, compression=None) as ws:
            await ws.send(json.dumps(connected))
            if args.together:  # every call's last frame on the same tick
                count = round((args.ramp + args.seconds) / TICK_S) - ticker.tick
            else:
                count = round(args.seconds / TICK_S)
            call = Call(call_id, ws.transport, frames, max(1, min(count, len(frames))))
            ticker.calls.append(call)
            await call.done
            hung_up = time.time()
            await ws.close()
    except Exception as error:  # report it and carry on: one failed call must not hide the others' figures
        return {"call_id": call_id, "error": repr(error)}
    return {
        "call_id": call_id,
        "frames": call.sent,
        "sent_bytes": call.sent * (args.rate // 50 * 2),
        "hung_up": hung_up,
        "send_lag_s": call.worst_lag_s,
        "close_code": recorder_close_code(ws),
    }


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    frames = masked_frames(call_audio(args.seconds + args.ramp, args.rate))
    numbers = range(args.first, args.first + args.calls)
    # Every answer webhook before the first call starts: in production the answer function runs elsewhere, and
    # here its 1,000 answers (~1 ms of CPU each) during the ramp took time slices from this generator, or from
    # the recorder. The tokens live five minutes, far longer than the fetches take.
    answers = await asyncio.gather(
        *(asyncio.to_thread(target, args, f"bench-{n:04d}") for n in numbers), return_exceptions=True
    )
    # No garbage collection while the calls run: this process lives one round, and a full collection over 1,000
    # connections paused it 30 to 110 ms, a late tick for every call, measured as the recorder's lag.
    gc.collect()
    gc.disable()
    ticker = Ticker()
    ticking = asyncio.create_task(ticker.run())
    results = await asyncio.gather(
        *(one_call(args, ticker, frames, n, a) for n, a in zip(numbers, answers, strict=True))
    )
    ticking.cancel()
    return list(results)


def main() -> None:
    parser = argparse.ArgumentParser()
    destination = parser.add_mutually_exclusive_group(required=True)
    destination.add_argument("--answer-url")
    destination.add_argument("--ws-url")
    parser.add_argument("--calls", type=int, required=True, help="calls this process places")
    parser.add_argument("--first", type=int, default=0, help="the number of this process's first call")
    parser.add_argument("--total", type=int, required=True, help="calls in the whole load (spaces the ramp)")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--ramp", type=float, required=True)
    parser.add_argument("--rate", type=int, required=True)
    parser.add_argument("--together", action="store_true", help="every call hangs up on the same tick")
    args = parser.parse_args()
    # uvloop's C event loop: the generator keeps real-time pace on its one core.
    results = uvloop.run(run(args))
    for result in results:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
