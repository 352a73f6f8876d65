"""Behaves like Twilio Media Streams or SignalWire <Stream>: voice webhook -> TwiML -> WebSocket stream."""

from __future__ import annotations

import asyncio
import base64
import uuid
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode
from urllib.request import urlopen

from .audio import Pcm, to_ulaw
from .common import NO_IMPAIRMENTS, CallResult, Chunk, Impairments, schedule, stream_json

# encoding name in start.mediaFormat -> how to encode 16-bit PCM for it
ENCODINGS = {"mulaw": "audio/x-mulaw", "l16": "audio/x-L16"}


def fetch_twiml(answer_url: str, call_id: str, caller: str, callee: str) -> str:
    form = urlencode({"CallSid": call_id, "AccountSid": "AC" + "0" * 32, "From": caller, "To": callee}).encode()
    with urlopen(answer_url, data=form, timeout=10) as response:
        return str(response.read().decode())


def stream_verb(twiml: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """The <Start><Stream>'s url, its attributes, and its <Parameter>s."""
    stream = ET.fromstring(twiml).find("./Start/Stream")
    if stream is None:
        raise ValueError("the TwiML starts no <Stream>")
    parameters = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    return stream.get("url", ""), dict(stream.attrib), parameters


def encode(pcm: bytes, encoding: str) -> bytes:
    return to_ulaw(pcm) if encoding == "mulaw" else pcm


async def call(
    answer_url: str,
    tracks: dict[str, Pcm],
    *,
    encoding: str = "mulaw",
    dialect: str = "twilio",
    speed: float = 1.0,
    impairments: Impairments = NO_IMPAIRMENTS,
    send_stop: bool = True,
    end: str = "close",
    call_id: str | None = None,
    caller: str = "+15550100001",
    callee: str = "+15550100002",
) -> CallResult:
    """One call streaming `tracks` ("inbound", "outbound") as `encoding` ("mulaw" or SignalWire's "l16")."""
    call_id = call_id or ("CA" + uuid.uuid4().hex if dialect == "twilio" else str(uuid.uuid4()))
    twiml = await asyncio.to_thread(fetch_twiml, answer_url, call_id, caller, callee)
    url, _, parameters = stream_verb(twiml)
    return await stream(
        url,
        parameters,
        tracks,
        call_id=call_id,
        encoding=encoding,
        dialect=dialect,
        speed=speed,
        impairments=impairments,
        send_stop=send_stop,
        end=end,
    )


async def stream(
    url: str,
    parameters: dict[str, str],
    tracks: dict[str, Pcm],
    *,
    call_id: str,
    encoding: str = "mulaw",
    dialect: str = "twilio",
    speed: float = 1.0,
    impairments: Impairments = NO_IMPAIRMENTS,
    send_stop: bool = True,
    end: str = "close",
) -> CallResult:
    rate = next(iter(tracks.values())).sample_rate
    stream_sid = "MZ" + uuid.uuid4().hex
    payloads = {name: [encode(frame, encoding) for frame in pcm.frames()] for name, pcm in tracks.items()}
    # SignalWire's documented media and stop messages carry no streamSid.
    sid = {"streamSid": stream_sid} if dialect == "twilio" else {}
    start = {
        "streamSid": stream_sid,
        "accountSid": "AC" + "0" * 32,
        "callSid": call_id,
        "tracks": list(tracks),
        "customParameters": parameters,
        "mediaFormat": {"encoding": ENCODINGS[encoding], "sampleRate": rate, "channels": 1},
    }
    version = "1.0.0" if dialect == "twilio" else "0.2.0"

    def media(chunk: Chunk, n: int) -> dict[str, Any]:
        return {
            "event": "media",
            "sequenceNumber": str(n),
            **sid,
            "media": {
                "track": chunk.track,
                "chunk": str(chunk.index + 1),
                "timestamp": str(chunk.index * 20),
                "payload": base64.b64encode(chunk.payload).decode(),
            },
        }

    stop = {
        "event": "stop",
        "sequenceNumber": "0",
        **sid,
        "stop": {"accountSid": start["accountSid"], "callSid": call_id},
    }
    return await stream_json(
        url,
        call_id=call_id,
        opening=[
            {"event": "connected", "protocol": "Call", "version": version},
            {"event": "start", "sequenceNumber": "1", "start": start, "streamSid": stream_sid},
        ],
        chunks=schedule(payloads, impairments),
        media=media,
        closing=[stop] if send_stop else [],
        speed=speed,
        end=end,
    )
