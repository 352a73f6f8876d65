"""What every simulated provider shares: the call's result, real-time pacing, and an impaired chunk schedule."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .audio import FRAME_S


@dataclass
class CallResult:
    call_id: str
    sent_bytes: int = 0  # how much audio reached the socket (Vonage: always a prefix of it)
    close_code: int | None = None  # what the recorder closed with, if it did
    dtmf: list[str] = field(default_factory=list)
    worst_send_lag_s: float = 0.0  # how far this simulator itself fell behind real-time pace
    hung_up_at: float = 0.0  # wall clock when the simulator closed or dropped the call


class Pacer:
    """Waits until a point of the call's timeline: `speed` times real time; 0 does not wait at all."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.worst_lag_s = 0.0
        self._start: float | None = None

    async def until(self, at_s: float) -> None:
        if self.speed <= 0:
            return
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        due = self._start + at_s / self.speed
        await asyncio.sleep(max(0.0, due - loop.time()))
        self.worst_lag_s = max(self.worst_lag_s, loop.time() - due)


@dataclass(frozen=True)
class Impairments:
    """How a real network and provider mangle a stream; chunk numbers count from 0 on every track."""

    drop: frozenset[int] = frozenset()  # never sent: the recording must hold silence there
    duplicate: frozenset[int] = frozenset()  # sent twice
    reorder: frozenset[int] = frozenset()  # sent just after the chunk that follows it
    jitter_ms: float = 0.0  # each chunk sent up to this much late
    seed: int = 0


NO_IMPAIRMENTS = Impairments()


@dataclass(frozen=True)
class Chunk:
    track: str
    index: int  # its place: index x 20 ms from the start of the stream
    payload: bytes
    send_at: float  # seconds into the call, at speed 1


def schedule(tracks: dict[str, list[bytes]], impairments: Impairments = NO_IMPAIRMENTS) -> list[Chunk]:
    rng = random.Random(impairments.seed)
    chunks = []
    for track, payloads in tracks.items():
        for index, payload in enumerate(payloads):
            if index in impairments.drop:
                continue
            at = (index + 1.5 if index in impairments.reorder else index) * FRAME_S
            at += rng.uniform(0, impairments.jitter_ms / 1000)
            chunks.append(Chunk(track, index, payload, at))
            if index in impairments.duplicate:
                chunks.append(Chunk(track, index, payload, at + 0.002))
    return sorted(chunks, key=lambda chunk: chunk.send_at)


async def hang_up(ws: ClientConnection, result: CallResult, pacer: Pacer, end: str) -> None:
    """End the call as `end` says: "close" (a close frame) or "drop" (the connection just vanishes)."""
    result.worst_send_lag_s = pacer.worst_lag_s
    result.hung_up_at = time.time()
    if end == "drop":
        ws.transport.abort()  # no close frame, no FIN handshake: a vanished network path
        await asyncio.sleep(0)
    else:
        await ws.close()


def recorder_close_code(ws: ClientConnection) -> int | None:
    """The code the recorder closed with; None if the connection just ended (1006)."""
    return ws.close_code if ws.close_code not in (None, 1006) else None


async def stream_json(
    uri: str,
    *,
    call_id: str,
    opening: list[dict[str, Any]],
    chunks: list[Chunk],
    media: Callable[[Chunk, int], dict[str, Any]],
    closing: list[dict[str, Any]],
    speed: float = 1.0,
    end: str = "close",
    headers: dict[str, str] | None = None,
) -> CallResult:
    """Send `opening`, then each chunk as `media(chunk, n)` (n counts every message sent) at its time, then
    `closing`; end by closing or dropping the connection. Stops early if the recorder closes."""
    result = CallResult(call_id)
    pacer = Pacer(speed)
    async with connect(uri, additional_headers=headers or {}, max_size=None, compression=None) as ws:
        try:
            sent = 0
            for message in opening:
                sent += 1
                await ws.send(json.dumps(message))
            for chunk in chunks:
                await pacer.until(chunk.send_at)
                sent += 1
                await ws.send(json.dumps(media(chunk, sent)))
                result.sent_bytes += len(chunk.payload)
            for message in closing:
                sent += 1
                await ws.send(json.dumps(message))
            await hang_up(ws, result, pacer, end)
        except ConnectionClosed:
            pass
    result.close_code = recorder_close_code(ws)
    return result
