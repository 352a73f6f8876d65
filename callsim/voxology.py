"""Behaves like Voxology's Programmable Voice: call webhook -> call flow -> Media Stream WebSocket messages."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any
from urllib.request import Request, urlopen

from .audio import Pcm, to_ulaw
from .common import DEFAULT_OPTIONS, CallResult, Chunk, StreamOptions, schedule, stream_json

APP_ID = "421f7113-df23-4fe6-ba05-6bb943bf9ce3"


def fetch_call_flow(answer_url: str, call_id: str, caller: str, callee: str) -> dict[str, Any]:
    body = json.dumps({"call_id": call_id, "caller_no": caller, "api_no": callee}).encode()
    request = Request(answer_url, data=body, headers={"Content-Type": "application/json"})
    with urlopen(request, timeout=10) as response:
        flow: dict[str, Any] = json.load(response)
    return flow


def stream_action(flow: dict[str, Any]) -> dict[str, Any]:
    for action in flow.get("actions", []):
        if action.get("type") == "STREAM" and action.get("params", {}).get("action") == "start":
            params: dict[str, Any] = action["params"]
            return params
    raise ValueError("the call flow starts no STREAM")


async def call(
    answer_url: str,
    tracks: dict[str, Pcm],
    options: StreamOptions = DEFAULT_OPTIONS,
    *,
    call_id: str | None = None,
    caller: str = "+17145551212",
    callee: str = "+19495551212",
) -> CallResult:
    """One call streaming `tracks` (named as the STREAM action's tracks) as 8 kHz mu-law."""
    call_id = call_id or f"{uuid.uuid4().int % 10**6}@{uuid.uuid4().int % 10**10}"
    flow = await asyncio.to_thread(fetch_call_flow, answer_url, call_id, caller, callee)
    params = stream_action(flow)
    return await stream(params, tracks, options, call_id=call_id, caller=caller, callee=callee)


async def stream(
    params: dict[str, Any],
    tracks: dict[str, Pcm],
    options: StreamOptions = DEFAULT_OPTIONS,
    *,
    call_id: str,
    caller: str = "+17145551212",
    callee: str = "+19495551212",
) -> CallResult:
    """The seed's message sequence: init_stream, start_track per track, live_track chunks, stop_track, end_stream."""
    stream_id = uuid.uuid4().int % 10**9
    common = {"stream_id": stream_id, "call_id": call_id}
    numbers = {"api_no": callee, "caller_no": caller}
    names = list(tracks)
    init = {
        "type": "init_stream",
        **common,
        "stream_sequence_number": 1,
        "app_id": APP_ID,
        "subaccount_id": 67891,
        "direction": "inbound",
        "stream_name": "stream1",
        "stream_data": params.get("stream_data"),
        "tracks": [{"name": name} for name in names],
        "service": "programmable_voice",
    }
    starts = [
        {
            "type": "start_track",
            **common,
            "stream_sequence_number": 2 + n,
            **numbers,
            "track_sequence_number": 1,
            "media_format": {"encoding": "ulaw", "type": "text", "sample_rate": 8000},
            "name": name,
        }
        for n, name in enumerate(names)
    ]
    payloads = {name: [to_ulaw(frame) for frame in pcm.frames()] for name, pcm in tracks.items()}

    def media(chunk: Chunk, n: int) -> dict[str, Any]:
        return {
            "type": "live_track",
            **common,
            "stream_sequence_number": n,
            "track_sequence_number": chunk.index + 2,
            "media": base64.b64encode(chunk.payload).decode(),
            "name": chunk.track,
        }

    durations = {name: len(pcm.data) // 16 for name, pcm in tracks.items()}  # ms at 8 kHz, 2 bytes a sample
    stops = [
        {
            "type": "stop_track",
            **common,
            **numbers,
            "track_sequence_number": len(payloads[name]) + 2,
            "duration": durations[name],
            "name": name,
        }
        for name in names
    ]
    end_stream = {
        "type": "end_stream",
        **common,
        "app_id": APP_ID,
        "stream_name": "stream1",
        "tracks": [{"name": name, "duration": durations[name]} for name in names],
        "error_code": None,
        "error": None,
        "stream_data": params.get("stream_data"),
    }
    return await stream_json(
        params["url"],
        call_id=call_id,
        opening=[init, *starts],
        chunks=schedule(payloads, options.impairments),
        media=media,
        closing=[*stops, end_stream] if options.send_end else [],
        options=options,
    )
