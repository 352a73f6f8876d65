"""Behaves like Plivo for one call: answer_url -> Plivo XML -> <Stream> audio stream (which has no stop message)."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode

from .audio import Pcm, to_ulaw
from .common import DEFAULT_OPTIONS, CallResult, Chunk, StreamOptions, post_form, schedule, stream_json

ACCOUNT_ID = "MAXXXXXXXXXXXXXXXXXX"


def answer_form(call_id: str, caller: str, callee: str) -> dict[str, str]:
    return {"CallUUID": call_id, "From": caller, "To": callee, "Direction": "inbound", "CallStatus": "in-progress"}


def fetch_xml(answer_url: str, body: bytes, headers: dict[str, str] | None = None) -> str:
    return post_form(answer_url, body, headers)


def stream_element(xml: str) -> tuple[str, dict[str, str]]:
    """The <Stream>'s url (its text) and its attributes."""
    stream = ET.fromstring(xml).find("./Stream")
    if stream is None or not stream.text:
        raise ValueError("the Plivo XML starts no <Stream>")
    return stream.text.strip(), dict(stream.attrib)


async def call(
    answer_url: str,
    tracks: dict[str, Pcm],
    options: StreamOptions = DEFAULT_OPTIONS,
    *,
    call_id: str | None = None,
    caller: str = "14155550100",
    callee: str = "14155550199",
) -> CallResult:
    """One call streaming `tracks` ("inbound", "outbound") as the <Stream> asks (mu-law at 8 kHz)."""
    call_id = call_id or str(uuid.uuid4())
    body = urlencode(answer_form(call_id, caller, callee)).encode()
    xml = await asyncio.to_thread(fetch_xml, answer_url, body)
    url, attributes = stream_element(xml)
    if attributes.get("contentType") != "audio/x-mulaw;rate=8000":
        raise ValueError(f"the simulator streams mu-law at 8 kHz, not {attributes.get('contentType')}")
    return await stream(url, tracks, options, call_id=call_id, extra_headers=attributes.get("extraHeaders", ""))


async def stream(
    url: str,
    tracks: dict[str, Pcm],
    options: StreamOptions = DEFAULT_OPTIONS,
    *,
    call_id: str,
    extra_headers: str = "",
    started_ms: int | None = None,
) -> CallResult:
    """The reference's messages: start, then media (timestamp in Unix epoch ms, chunk counted per track) and
    dtmf. Plivo has no stop message: the call ends when the socket closes, whatever `send_end` says."""
    stream_id = str(uuid.uuid4())
    epoch_ms = int(time.time() * 1000) if started_ms is None else started_ms
    # The message reference echoes extraHeaders with ";" where the XML has ","; the recorder reads both.
    echoed = {"extra_headers": extra_headers.replace(",", ";")} if extra_headers else {}
    payloads = {name: [to_ulaw(frame) for frame in pcm.frames()] for name, pcm in tracks.items()}
    start = {
        "callId": call_id,
        "streamId": stream_id,
        "accountId": ACCOUNT_ID,
        "tracks": list(tracks),
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
    }

    def media(chunk: Chunk, n: int) -> dict[str, Any]:
        return {
            "event": "media",
            "sequenceNumber": n,
            "streamId": stream_id,
            "media": {
                "track": chunk.track,
                "timestamp": str(epoch_ms + chunk.at_ms),
                "chunk": chunk.index + 1,
                "payload": base64.b64encode(chunk.payload).decode(),
            },
            **echoed,
        }

    def dtmf(digit: str, n: int) -> dict[str, Any]:
        return {"event": "dtmf", "sequenceNumber": n, "streamId": stream_id, "dtmf": {"digit": digit}}

    return await stream_json(
        url,
        call_id=call_id,
        opening=[{"event": "start", "sequenceNumber": 1, "start": start, **echoed}],
        chunks=schedule(payloads, options.impairments),
        media=media,
        dtmf=dtmf,
        closing=[],
        options=options,
    )


async def place(answer_url: str, tracks: dict[str, Pcm], options: StreamOptions, call_id: str | None) -> CallResult:
    return await call(answer_url, tracks, options, call_id=call_id)
