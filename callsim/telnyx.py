"""Behaves like Telnyx TeXML for one call: voice URL -> TeXML -> <Start><Stream> media stream."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import uuid
import warnings
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode

from .audio import Pcm, to_ulaw
from .common import DEFAULT_OPTIONS, CallResult, Chunk, Encoding, StreamOptions, post_form, schedule, stream_json

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # removed in 3.13, where audioop-lts provides it
    import audioop

# The TeXML <Stream> codec -> what the simulator streams, and what Telnyx names it in start.media_format.
CODECS: dict[str, Encoding] = {"PCMU": "mulaw", "PCMA": "alaw"}
MEDIA_FORMATS: dict[Encoding, str] = {"mulaw": "PCMU", "alaw": "PCMA"}


def answer_form(call_id: str, caller: str, callee: str) -> dict[str, str]:
    """The TeXML voice URL's form fields, Twilio-compatible."""
    return {
        "CallSid": call_id,
        "AccountSid": str(uuid.uuid5(uuid.NAMESPACE_URL, "account")),
        "From": caller,
        "To": callee,
    }


def fetch_texml(answer_url: str, body: bytes, headers: dict[str, str] | None = None) -> str:
    return post_form(answer_url, body, headers)


def stream_verb(texml: str) -> tuple[str, dict[str, str]]:
    """The <Start><Stream>'s url and its attributes."""
    stream = ET.fromstring(texml).find("./Start/Stream")
    if stream is None:
        raise ValueError("the TeXML starts no <Stream>")
    return stream.get("url", ""), dict(stream.attrib)


def encode(pcm: bytes, encoding: Encoding) -> bytes:
    return audioop.lin2alaw(pcm, 2) if encoding == "alaw" else to_ulaw(pcm)


async def call(
    answer_url: str,
    tracks: dict[str, Pcm],
    options: StreamOptions = DEFAULT_OPTIONS,
    *,
    call_id: str | None = None,
    caller: str = "+13122010094",
    callee: str = "+13122123456",
) -> CallResult:
    """One call streaming `tracks` ("inbound", "outbound") in the codec the TeXML asks for, as Telnyx does."""
    call_id = call_id or f"v3:{uuid.uuid4().hex}"
    body = urlencode(answer_form(call_id, caller, callee)).encode()
    texml = await asyncio.to_thread(fetch_texml, answer_url, body)
    url, attributes = stream_verb(texml)
    encoding = CODECS[attributes.get("codec", "PCMU")]
    options = dataclasses.replace(options, encoding=encoding)
    return await stream(url, tracks, options, call_id=call_id, caller=caller, callee=callee)


async def stream(
    url: str,
    tracks: dict[str, Pcm],
    options: StreamOptions = DEFAULT_OPTIONS,
    *,
    call_id: str,
    caller: str = "+13122010094",
    callee: str = "+13122123456",
) -> CallResult:
    """The guide's messages: connected, start, media (chunk and timestamp per track, as strings), dtmf, stop."""
    stream_id = str(uuid.uuid4()).upper()
    payloads = {name: [encode(frame, options.encoding) for frame in pcm.frames()] for name, pcm in tracks.items()}
    start = {
        "user_id": str(uuid.uuid4()).upper(),
        "call_control_id": call_id,
        "call_session_id": str(uuid.uuid4()),
        "from": caller,
        "to": callee,
        "tags": [],
        "media_format": {"encoding": MEDIA_FORMATS[options.encoding], "sample_rate": 8000, "channels": 1},
    }

    def media(chunk: Chunk, n: int) -> dict[str, Any]:
        return {
            "event": "media",
            "sequence_number": str(n),
            "media": {
                "track": chunk.track,
                "chunk": str(chunk.index + 1),
                "timestamp": str(chunk.at_ms),
                "payload": base64.b64encode(chunk.payload).decode(),
            },
            "stream_id": stream_id,
        }

    def dtmf(digit: str, n: int) -> dict[str, Any]:
        return {"event": "dtmf", "stream_id": stream_id, "sequence_number": str(n), "dtmf": {"digit": digit}}

    stop = {
        "event": "stop",
        "sequence_number": "0",
        "stop": {"user_id": start["user_id"], "call_control_id": call_id},
        "stream_id": stream_id,
    }
    return await stream_json(
        url,
        call_id=call_id,
        opening=[
            {"event": "connected", "version": "1.0.0"},
            {"event": "start", "sequence_number": "1", "start": start, "stream_id": stream_id},
        ],
        chunks=schedule(payloads, options.impairments),
        media=media,
        dtmf=dtmf,
        closing=[stop] if options.send_end else [],
        options=options,
    )


async def place(answer_url: str, tracks: dict[str, Pcm], options: StreamOptions, call_id: str | None) -> CallResult:
    return await call(answer_url, tracks, options, call_id=call_id)
