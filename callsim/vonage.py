"""Behaves like Vonage's Voice API for one call: answer_url -> NCCO -> WebSocket stream."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from urllib.request import urlopen

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .audio import FRAME_S, Pcm


@dataclass
class CallResult:
    call_id: str
    sent_bytes: int = 0  # how much of the audio reached the socket: always a prefix of it
    close_code: int | None = None  # what the recorder closed with, if it did
    dtmf: list[str] = field(default_factory=list)
    worst_send_lag_s: float = 0.0  # how far this simulator itself fell behind real-time pace
    hung_up_at: float = 0.0  # wall clock when the simulator closed or dropped the call


def fetch_ncco(answer_url: str, call_id: str, caller: str, callee: str) -> list[dict[str, Any]]:
    query = {"uuid": call_id, "conversation_uuid": f"CON-{call_id}", "from": caller, "to": callee}
    with urlopen(f"{answer_url}?{urlencode(query)}", timeout=10) as response:
        ncco: list[dict[str, Any]] = json.load(response)
    return ncco


def websocket_endpoint(ncco: list[dict[str, Any]]) -> dict[str, Any]:
    for action in ncco:
        if action.get("action") == "connect":
            for endpoint in action.get("endpoint", []):
                if endpoint.get("type") == "websocket":
                    websocket: dict[str, Any] = endpoint
                    return websocket
    raise ValueError("the NCCO connects no websocket endpoint")


async def call(
    answer_url: str,
    audio: Pcm,
    *,
    speed: float = 1.0,
    dtmf: tuple[tuple[float, str], ...] = (),
    end: str = "close",
    call_id: str | None = None,
    caller: str = "15550100001",
    callee: str = "15550100002",
) -> CallResult:
    """One call. `speed` N streams N times faster than real time (0: as fast as possible); `dtmf` holds
    (seconds into the call, digit) pairs; `end` is "close" (a close frame) or "drop" (the TCP connection
    vanishes without one)."""
    call_id = call_id or str(uuid.uuid4())
    ncco = await asyncio.to_thread(fetch_ncco, answer_url, call_id, caller, callee)
    endpoint = websocket_endpoint(ncco)
    return await stream(endpoint, audio, call_id=call_id, speed=speed, dtmf=dtmf, end=end)


async def stream(
    endpoint: dict[str, Any],
    audio: Pcm,
    *,
    call_id: str,
    speed: float = 1.0,
    dtmf: tuple[tuple[float, str], ...] = (),
    end: str = "close",
) -> CallResult:
    """Stream `audio` to an NCCO websocket endpoint exactly as Vonage does."""
    content_type = endpoint.get("content-type", "audio/l16;rate=16000")
    if content_type != f"audio/l16;rate={audio.sample_rate}":
        raise ValueError(f"the NCCO asks for {content_type}; the WAV is {audio.sample_rate} Hz")
    auth = endpoint.get("authorization") or {}
    headers = {"Authorization": auth["value"]} if auth.get("type") == "custom" else {}
    result = CallResult(call_id)
    pending_dtmf = sorted(dtmf)
    async with connect(endpoint["uri"], additional_headers=headers, max_size=None, compression=None) as ws:
        try:
            await ws.send(
                json.dumps(
                    {"event": "websocket:connected", "content-type": content_type, **endpoint.get("headers", {})}
                )
            )
            loop = asyncio.get_running_loop()
            started = loop.time()
            for index, frame in enumerate(audio.frames()):
                at = index * FRAME_S
                if speed > 0:
                    due = started + at / speed
                    await asyncio.sleep(max(0.0, due - loop.time()))
                    result.worst_send_lag_s = max(result.worst_send_lag_s, loop.time() - due)
                while pending_dtmf and pending_dtmf[0][0] <= at:
                    digit = pending_dtmf.pop(0)[1]
                    await ws.send(json.dumps({"event": "websocket:dtmf", "digit": digit, "duration": 260}))
                    result.dtmf.append(digit)
                await ws.send(frame)
                result.sent_bytes += len(frame)
            result.hung_up_at = time.time()
            await finish(ws, end)
        except ConnectionClosed:
            pass
        result.close_code = ws.close_code if ws.close_code not in (None, 1006) else None
    return result


async def finish(ws: ClientConnection, end: str) -> None:
    if end == "drop":
        ws.transport.abort()  # no close frame, no FIN handshake: a vanished network path
        await asyncio.sleep(0)
    else:
        await ws.close()
