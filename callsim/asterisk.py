"""Behaves like Asterisk's chan_websocket dialling the recorder for one channel (`Dial(WebSocket/recorder/
c(ulaw)v(call_id=${UNIQUEID}))`): HTTP Basic on the upgrade, MEDIA_START in plain text or JSON, raw media in
20 ms binary frames, DTMF_END for key presses, and the WebSocket close as the hang-up."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Literal
from urllib.parse import urlencode

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .audio import FRAME_S, Pcm, to_alaw, to_ulaw
from .common import CallResult, Encoding, Pacer, StreamOptions, hang_up, recorder_close_code

ControlFormat = Literal["plain-text", "json"]  # chan_websocket.conf's control_message_format


def format_name(encoding: Encoding, rate: int) -> str:
    """Asterisk's name for the media format."""
    if encoding == "l16":
        return "slin" if rate == 8000 else f"slin{rate // 1000}"
    return "ulaw" if encoding == "mulaw" else "alaw"


def encode(pcm: bytes, encoding: Encoding) -> bytes:
    return to_ulaw(pcm) if encoding == "mulaw" else to_alaw(pcm) if encoding == "alaw" else pcm


def media_start(control: ControlFormat, channel_id: str, media_format: str, frame_bytes: int) -> str:
    fields = {
        "connection_id": str(uuid.uuid4()),
        "channel": f"WebSocket/recorder-{channel_id[:8]}",
        "channel_id": channel_id,
        "format": media_format,
        "optimal_frame_size": frame_bytes,
        "ptime": 20,
    }
    if control == "json":
        variables = {"from": "+15550100001", "to": "6001"}
        return json.dumps({"event": "MEDIA_START", **fields, "channel_variables": variables})
    return "MEDIA_START " + " ".join(f"{key}:{value}" for key, value in fields.items())


def dtmf_end(control: ControlFormat, channel_id: str, digit: str) -> str:
    if control == "json":
        return json.dumps({"event": "DTMF_END", "channel_id": channel_id, "digit": digit})
    return f"DTMF_END digit:{digit} channel_id:{channel_id}"


async def call(
    url: str,
    audio: Pcm,
    options: StreamOptions,
    *,
    username: str,
    password: str,
    control: ControlFormat = "plain-text",
    call_id: str | None = None,
    caller: str = "+15550100001",
    callee: str = "6001",
) -> CallResult:
    """One channel. `call_id` rides in the query as `v(call_id=...)` would put it; None leaves it out, and the
    recorder names the call by the channel id (the result's call_id)."""
    channel_id = f"{1700000000 + uuid.uuid4().int % 10**8}.{uuid.uuid4().int % 1000}"
    query = {"call_id": call_id, "from": caller, "to": callee} if call_id else {}
    result = CallResult(call_id or channel_id)
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}", "User-Agent": "Asterisk"}
    frames = [encode(frame, options.encoding) for frame in audio.frames()]
    start = media_start(control, channel_id, format_name(options.encoding, audio.sample_rate), len(frames[0]))
    pending_dtmf = sorted(options.dtmf)
    target = f"{url}?{urlencode(query)}" if query else url
    async with connect(target, additional_headers=headers, max_size=None, compression=None) as ws:
        pacer = Pacer(options.speed)
        try:
            await ws.send(start)
            for index, frame in enumerate(frames):
                at = index * FRAME_S
                await pacer.until(at)
                while pending_dtmf and pending_dtmf[0][0] <= at:
                    digit = pending_dtmf.pop(0)[1]
                    await ws.send(dtmf_end(control, channel_id, digit))
                    result.dtmf.append(digit)
                if index not in options.impairments.drop:  # Asterisk sends every frame; this is a test's loss
                    await ws.send(frame)
                    result.sent_bytes += len(frame)
            await hang_up(ws, result, pacer, options.end)
        except ConnectionClosed:
            pass
    result.close_code = recorder_close_code(ws)
    return result
