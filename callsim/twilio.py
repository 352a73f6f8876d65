"""Behaves like Twilio Media Streams or SignalWire <Stream>: voice webhook -> TwiML -> WebSocket stream."""

from __future__ import annotations

import asyncio
import base64
import uuid
import xml.etree.ElementTree as ET
from typing import Any, Literal
from urllib.parse import urlencode

from .audio import Pcm, to_ulaw
from .common import DEFAULT_OPTIONS, CallResult, Chunk, Encoding, StreamOptions, post_form, schedule, stream_json

# --encoding -> the name Twilio/SignalWire puts in start.mediaFormat.encoding
MEDIA_FORMATS: dict[Encoding, str] = {"mulaw": "audio/x-mulaw", "l16": "audio/x-L16"}
Dialect = Literal["twilio", "signalwire"]


def fetch_twiml(answer_url: str, call_id: str, caller: str, callee: str) -> str:
    form = urlencode({"CallSid": call_id, "AccountSid": "AC" + "0" * 32, "From": caller, "To": callee}).encode()
    return post_form(answer_url, form)


def stream_verb(twiml: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """The <Start><Stream>'s url, its attributes, and its <Parameter>s."""
    stream = ET.fromstring(twiml).find("./Start/Stream")
    if stream is None:
        raise ValueError("the TwiML starts no <Stream>")
    parameters = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    return stream.get("url", ""), dict(stream.attrib), parameters


def encode(pcm: bytes, encoding: Encoding) -> bytes:
    return to_ulaw(pcm) if encoding == "mulaw" else pcm


async def call(
    answer_url: str,
    tracks: dict[str, Pcm],
    options: StreamOptions = DEFAULT_OPTIONS,
    *,
    dialect: Dialect = "twilio",
    call_id: str | None = None,
    caller: str = "+15550100001",
    callee: str = "+15550100002",
) -> CallResult:
    """One call streaming `tracks` ("inbound", "outbound") as the options' encoding ("mulaw", SignalWire's "l16")."""
    call_id = call_id or ("CA" + uuid.uuid4().hex if dialect == "twilio" else str(uuid.uuid4()))
    twiml = await asyncio.to_thread(fetch_twiml, answer_url, call_id, caller, callee)
    url, _, parameters = stream_verb(twiml)
    return await stream(url, parameters, tracks, options, call_id=call_id, dialect=dialect)


async def stream(
    url: str,
    parameters: dict[str, str],
    tracks: dict[str, Pcm],
    options: StreamOptions = DEFAULT_OPTIONS,
    *,
    call_id: str,
    dialect: Dialect = "twilio",
) -> CallResult:
    rate = next(iter(tracks.values())).sample_rate
    stream_sid = "MZ" + uuid.uuid4().hex
    payloads = {name: [encode(frame, options.encoding) for frame in pcm.frames()] for name, pcm in tracks.items()}
    # SignalWire's documented media and stop messages carry no streamSid.
    sid = {"streamSid": stream_sid} if dialect == "twilio" else {}
    start = {
        "streamSid": stream_sid,
        "accountSid": "AC" + "0" * 32,
        "callSid": call_id,
        "tracks": list(tracks),
        "customParameters": parameters,
        "mediaFormat": {"encoding": MEDIA_FORMATS[options.encoding], "sampleRate": rate, "channels": 1},
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
                "timestamp": str(chunk.at_ms),
                "payload": base64.b64encode(chunk.payload).decode(),
            },
        }

    def dtmf(digit: str, n: int) -> dict[str, Any]:
        return {"event": "dtmf", "sequenceNumber": str(n), **sid, "dtmf": {"track": "inbound_track", "digit": digit}}

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
        chunks=schedule(payloads, options.impairments),
        media=media,
        dtmf=dtmf,
        closing=[stop] if options.send_end else [],
        options=options,
    )
