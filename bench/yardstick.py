"""The yardstick: a minimal Vonage recorder written the way the SignalWire guide's sample is, for `python -m bench`
to measure this recorder against in the same run.

The `websockets` asyncio server (its C `speedups` unmask the frames), one handler coroutine per call: the first
text message names the call, each binary message goes to the call's WAV file through the standard `wave` module,
and the file is closed when the socket closes. No tokens, no segments, no store: the least a Python recorder can
do. It logs the same "recording stored" line as the recorder (call_id, time, worst_lag_ms), so the benchmark
reads both the same way.

    python -m bench.yardstick --port 8765 --dir recordings/
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import wave
from datetime import UTC, datetime
from pathlib import Path

from websockets.asyncio.server import ServerConnection, serve


async def record(websocket: ServerConnection, directory: Path) -> None:
    connected = json.loads(await websocket.recv())
    call_id = str(connected["uuid"])
    rate = int(str(connected["content-type"]).partition("rate=")[2])
    first_at, received, worst_lag = 0.0, 0, 0.0
    with wave.open(str(directory / f"{call_id}.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        async for message in websocket:
            if isinstance(message, str):
                continue  # DTMF and other events: not recorded
            now = time.monotonic()
            audio_s = received / (2 * rate)
            if not first_at:
                first_at = now
            worst_lag = max(worst_lag, now - first_at - audio_s)
            received += len(message)
            wav.writeframes(message)
    print(
        json.dumps(
            {
                "message": "recording stored",
                "time": datetime.now(UTC).isoformat(),
                "call_id": call_id,
                "worst_lag_ms": round(worst_lag * 1000, 1),
            }
        ),
        flush=True,
    )


async def main(port: int, directory: Path) -> None:
    async with serve(lambda ws: record(ws, directory), "127.0.0.1", port, compression=None, max_size=2**20):
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(args.port, args.dir))
