"""Behaves like jambonz running our answer document's `listen` verb: the call webhook (JSON call attributes) ->
verb array -> WebSocket with subprotocol audio.jambonz.org, one JSON text frame of metadata, then interleaved
stereo L16 little-endian in binary frames, with `{"event": "dtmf"}` text frames for key presses."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any
from urllib.request import Request, urlopen

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from .audio import FRAME_S, Pcm
from .common import CallResult, Pacer, StreamOptions, hang_up, recorder_close_code

SUBPROTOCOL = Subprotocol("audio.jambonz.org")


def fetch_verbs(answer_url: str, call_id: str, caller: str, callee: str) -> list[dict[str, Any]]:
    attributes = {
        "call_sid": call_id,
        "direction": "inbound",
        "from": caller,
        "to": callee,
        "call_id": f"{uuid.uuid4()}@10.0.0.1",
        "sip_status": 100,
        "call_status": "trying",
        "account_sid": str(uuid.uuid4()),
        "application_sid": str(uuid.uuid4()),
    }
    request = Request(answer_url, json.dumps(attributes).encode(), {"Content-Type": "application/json"})
    with urlopen(request, timeout=10) as response:
        verbs: list[dict[str, Any]] = json.load(response)
    return verbs


def listen_verb(verbs: list[dict[str, Any]]) -> dict[str, Any]:
    """The `listen` verb, standalone or nested in `dial`."""
    for verb in verbs:
        if verb.get("verb") == "listen":
            return verb
        if verb.get("verb") == "dial" and isinstance(verb.get("listen"), dict):
            listen: dict[str, Any] = verb["listen"]
            return listen
    raise ValueError("the answer runs no listen verb")


async def call(
    answer_url: str,
    tracks: dict[str, Pcm],
    options: StreamOptions,
    *,
    call_id: str | None = None,
    caller: str = "+15550100001",
    callee: str = "+15550100002",
) -> CallResult:
    """One call: `tracks` are the caller (left) and the callee (right), at the sampleRate the answer asks for."""
    call_id = call_id or str(uuid.uuid4())
    verbs = await asyncio.to_thread(fetch_verbs, answer_url, call_id, caller, callee)
    listen = listen_verb(verbs)
    left, right = tracks.values()
    rate = int(listen.get("sampleRate", 8000))
    if left.sample_rate != rate:
        raise ValueError(f"the listen verb asks for {rate} Hz; the WAV is {left.sample_rate} Hz")
    metadata = {
        "callSid": call_id,
        "direction": "inbound",
        "from": caller,
        "to": callee,
        "callId": f"{uuid.uuid4()}@10.0.0.1",
        "sampleRate": rate,
        "mixType": listen.get("mixType", "mono"),
        **listen.get("metadata", {}),
    }
    result = CallResult(call_id)
    length = max(len(left.data), len(right.data))  # both channels run the whole call
    ones, twos = (Pcm(pcm.data.ljust(length, b"\x00"), rate).frames() for pcm in (left, right))
    frames = list(zip(ones, twos, strict=True))
    pending_dtmf = sorted(options.dtmf)
    async with connect(listen["url"], subprotocols=[SUBPROTOCOL], max_size=None, compression=None) as ws:
        pacer = Pacer(options.speed)
        try:
            await ws.send(json.dumps(metadata))
            for index, (one, two) in enumerate(frames):
                at = index * FRAME_S
                await pacer.until(at)
                while pending_dtmf and pending_dtmf[0][0] <= at:
                    digit = pending_dtmf.pop(0)[1]
                    await ws.send(json.dumps({"event": "dtmf", "dtmf": digit, "duration": "1600"}))
                    result.dtmf.append(digit)
                frame = interleave(one, two)
                await ws.send(frame)
                result.sent_bytes += len(frame)  # both channels' bytes, as for every simulator
            await hang_up(ws, result, pacer, options.end)
        except ConnectionClosed:
            pass
    result.close_code = recorder_close_code(ws)
    return result


def interleave(left: bytes, right: bytes) -> bytes:
    """Two 16-bit channels, sample by sample."""
    out = bytearray(2 * len(left))
    view, one, two = memoryview(out).cast("H"), memoryview(left).cast("H"), memoryview(right).cast("H")
    view[0::2], view[1::2] = one, two
    return bytes(out)
