"""What every simulated provider shares: its options, the call's result, real-time pacing, an impaired chunk
schedule, and the JSON streaming loop.

Each provider module (vonage, twilio, voxology, telnyx, plivo) has the same two steps: `call(answer_url, ...)`
fetches the answer document as the provider would and reads the stream's URL from it, then `stream(...)` plays
the provider's side of the WebSocket. `callsim.providers.PROVIDERS` lists them for `python -m callsim`.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.request import Request, urlopen

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .audio import FRAME_S, Pcm

End = Literal["close", "drop"]  # a close frame, or the connection just vanishes
Encoding = Literal["mulaw", "alaw", "l16"]


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
    late_ms: int = 0  # every track after the first starts this much into the call (a leg that joins late)
    seed: int = 0


NO_IMPAIRMENTS = Impairments()


@dataclass(frozen=True)
class StreamOptions:
    """How a simulated provider streams one call. Each option has this one name in every provider module."""

    speed: float = 1.0  # times real time; 0 streams as fast as possible
    impairments: Impairments = NO_IMPAIRMENTS
    send_end: bool = True  # the provider's own end message (stop, end_stream), where its protocol has one
    end: End = "close"
    encoding: Encoding = "mulaw"  # where the provider offers a choice
    dtmf: tuple[tuple[float, str], ...] = ()  # (seconds into the call, digit), where the stream carries DTMF


DEFAULT_OPTIONS = StreamOptions()


@dataclass(frozen=True)
class Provider:
    """One simulated provider, for `python -m callsim`."""

    answer_path: str  # on the answer function
    tracks: tuple[str, ...]  # the names of the tracks it streams, the caller's first
    encodings: tuple[Encoding, ...]  # what it can stream, the default first
    place: Callable[[str, dict[str, Pcm], StreamOptions, str | None], Awaitable[CallResult]]


@dataclass(frozen=True)
class Chunk:
    track: str
    index: int  # its place in its track: index x 20 ms from the start of the track
    payload: bytes
    send_at: float  # seconds into the call, at speed 1
    at_ms: int  # its place in the call: where its track starts, plus index x 20 ms


def post_form(url: str, body: bytes, headers: dict[str, str] | None = None) -> str:
    """POST a form-encoded webhook, as Twilio, Telnyx and Plivo do, and return the document it answers."""
    request = Request(url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
    with urlopen(request, timeout=10) as response:
        return str(response.read().decode())


def schedule(tracks: dict[str, list[bytes]], impairments: Impairments = NO_IMPAIRMENTS) -> list[Chunk]:
    rng = random.Random(impairments.seed)
    chunks = []
    for n, (track, payloads) in enumerate(tracks.items()):
        track_start_ms = impairments.late_ms if n else 0
        for index, payload in enumerate(payloads):
            if index in impairments.drop:
                continue
            at_ms = track_start_ms + round(index * FRAME_S * 1000)
            at = at_ms / 1000 + (1.5 * FRAME_S if index in impairments.reorder else 0.0)
            at += rng.uniform(0, impairments.jitter_ms / 1000)
            chunks.append(Chunk(track, index, payload, at, at_ms))
            if index in impairments.duplicate:
                chunks.append(Chunk(track, index, payload, at + 0.002, at_ms))
    return sorted(chunks, key=lambda chunk: chunk.send_at)


async def hang_up(ws: ClientConnection, result: CallResult, pacer: Pacer, end: End) -> None:
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
    media: Callable[[Chunk, int], dict[str, Any] | bytes],
    closing: list[dict[str, Any]],
    options: StreamOptions = DEFAULT_OPTIONS,
    dtmf: Callable[[str, int], dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> CallResult:
    """Send `opening`, then each chunk as `media(chunk, n)` (n counts every message sent; a dict goes as a JSON
    text message, bytes as a binary one) at its time, with
    `dtmf(digit, n)` for each of the options' key presses when it is due, then `closing`; end by closing or
    dropping the connection. Stops early if the recorder closes."""
    result = CallResult(call_id)
    pacer = Pacer(options.speed)
    pending_dtmf = sorted(options.dtmf) if dtmf else []
    async with connect(uri, additional_headers=headers or {}, max_size=None, compression=None) as ws:
        try:
            sent = 0
            for message in opening:
                sent += 1
                await ws.send(json.dumps(message))
            for chunk in chunks:
                await pacer.until(chunk.send_at)
                while dtmf and pending_dtmf and pending_dtmf[0][0] <= chunk.send_at:
                    sent += 1
                    digit = pending_dtmf.pop(0)[1]
                    await ws.send(json.dumps(dtmf(digit, sent)))
                    result.dtmf.append(digit)
                sent += 1
                frame = media(chunk, sent)
                await ws.send(frame if isinstance(frame, bytes) else json.dumps(frame))
                result.sent_bytes += len(chunk.payload)
            for message in closing:
                sent += 1
                await ws.send(json.dumps(message))
            await hang_up(ws, result, pacer, options.end)
        except ConnectionClosed:
            pass
    result.close_code = recorder_close_code(ws)
    return result
