"""Behaves like Vonage's Voice API for one call: answer_url -> NCCO -> WebSocket stream."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any
from urllib.parse import urlencode
from urllib.request import urlopen

from .audio import Pcm
from .common import CallResult, End, StreamOptions, schedule, stream_json


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
    end: End = "close",
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
    end: End = "close",
) -> CallResult:
    """Stream `audio` to an NCCO websocket endpoint exactly as Vonage does."""
    content_type = endpoint.get("content-type", "audio/l16;rate=16000")
    if content_type != f"audio/l16;rate={audio.sample_rate}":
        raise ValueError(f"the NCCO asks for {content_type}; the WAV is {audio.sample_rate} Hz")
    auth = endpoint.get("authorization") or {}
    headers = {"Authorization": auth["value"]} if auth.get("type") == "custom" else {}
    connected = {"event": "websocket:connected", "content-type": content_type, **endpoint.get("headers", {})}

    def dtmf_event(digit: str, n: int) -> dict[str, Any]:
        return {"event": "websocket:dtmf", "digit": digit, "duration": 260}

    # Vonage's stream is one ordered TCP stream of raw frames: no impairments to simulate.
    return await stream_json(
        endpoint["uri"],
        call_id=call_id,
        opening=[connected],
        chunks=schedule({"mix": audio.frames()}),
        media=lambda chunk, n: chunk.payload,
        dtmf=dtmf_event,
        closing=[],
        options=StreamOptions(speed=speed, end=end, dtmf=dtmf),
        headers=headers,
    )


async def place(answer_url: str, tracks: dict[str, Pcm], options: StreamOptions, call_id: str | None) -> CallResult:
    """`call` for the registry. Vonage streams one mixed track of L16, with no end message and no impairments:
    its `call` keeps keyword options (the tests, benchmark and demo call it directly)."""
    [audio] = tracks.values()
    return await call(answer_url, audio, speed=options.speed, dtmf=options.dtmf, end=options.end, call_id=call_id)
