"""Behaves like Genesys Cloud's AudioHook Monitor client for one conversation: it dials the recorder's
/ws/audiohook with its API key (and an HTTP message signature when a client secret is set), opens the session,
streams the stereo PCMU it chose, pings, reports chunks it never sent as `discarded`, and closes.

The signature is built here from draft-ietf-httpbis-message-signatures-11 as Genesys documents it, written apart
from the recorder's verifier so that each checks the other.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .audio import FRAME_S, Pcm, to_ulaw
from .common import CallResult, Pacer, StreamOptions, hang_up, recorder_close_code

PROBE = "00000000-0000-0000-0000-000000000000"
RATE = 8000
COMPONENTS = (
    "@request-target",
    "@authority",
    "audiohook-organization-id",
    "audiohook-session-id",
    "audiohook-correlation-id",
    "x-api-key",
)
PING_EVERY_S = 1.0  # Genesys pings every few seconds; a short call still gets one
REPLY_WAIT_S = 5.0


@dataclass
class AudioHookResult(CallResult):
    replies: list[dict[str, Any]] = field(default_factory=list)  # the recorder's messages, in order


def signature_headers(
    headers: dict[str, str], target: str, host: str, api_key: str, secret_b64: str, created: int | None = None
) -> dict[str, str]:
    """`Signature` and `Signature-Input` over COMPONENTS, hmac-sha256 keyed by the base64-decoded client secret."""
    created = int(time.time()) if created is None else created
    nonce = base64.b64encode(secrets.token_bytes(18)).decode()
    names = " ".join(f'"{name}"' for name in COMPONENTS)
    params = f'({names});keyid="{api_key}";nonce="{nonce}";alg="hmac-sha256";created={created};expires={created + 60}'
    values = {"@request-target": target, "@authority": host, **{k.lower(): v for k, v in headers.items()}}
    base = "\n".join([*(f'"{name}": {values[name]}' for name in COMPONENTS), f'"@signature-params": {params}'])
    digest = hmac.new(base64.b64decode(secret_b64), base.encode(), hashlib.sha256).digest()
    return {"Signature": f"sig1=:{base64.b64encode(digest).decode()}:", "Signature-Input": f"sig1={params}"}


def upgrade_headers(url: str, session_id: str, api_key: str, secret_b64: str = "") -> dict[str, str]:
    headers = {
        "User-Agent": "GenesysCloud-AudioHook-Client",
        "Audiohook-Organization-Id": "d7934305-0972-4844-938e-9060eef73d05",
        "Audiohook-Correlation-Id": str(uuid.uuid4()),
        "Audiohook-Session-Id": session_id,
        "X-API-KEY": api_key,
    }
    if secret_b64:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        headers.update(signature_headers(headers, target, parts.netloc, api_key, secret_b64))
    return headers


def duration(samples: int) -> str:
    return f"PT{samples / RATE:.3f}S"


def offers(channels: tuple[str, ...]) -> list[dict[str, Any]]:
    """What Genesys offers: the stereo stream first, then each channel alone."""
    stereo = [{"type": "audio", "format": "PCMU", "channels": list(channels), "rate": RATE}]
    return stereo + [{"type": "audio", "format": "PCMU", "channels": [c], "rate": RATE} for c in channels]


class _Session:
    """The client's half of the protocol: seq counting, and the recorder's replies read as they come."""

    def __init__(self, ws: ClientConnection, session_id: str, result: AudioHookResult) -> None:
        self.ws, self.id, self.result = ws, session_id, result
        self.seq = 0
        self.position = 0  # conversation samples, discarded ones included
        self._arrived = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if isinstance(message, str):
                    async with self._arrived:
                        self.result.replies.append(json.loads(message))
                        self._arrived.notify_all()
        except ConnectionClosed:
            pass

    async def send(self, kind: str, parameters: dict[str, Any]) -> None:
        self.seq += 1
        serverseq = self.result.replies[-1]["seq"] if self.result.replies else 0
        message = {
            "version": "2",
            "id": self.id,
            "type": kind,
            "seq": self.seq,
            "serverseq": serverseq,
            "position": duration(self.position),
            "parameters": parameters,
        }
        await self.ws.send(json.dumps(message))

    async def reply(self, kind: str) -> dict[str, Any] | None:
        """The recorder's next `kind` message; None if none comes in time."""

        def found() -> bool:
            return any(reply["type"] == kind for reply in self.result.replies)

        async with self._arrived:
            try:
                await asyncio.wait_for(self._arrived.wait_for(found), REPLY_WAIT_S)
            except TimeoutError:
                return None
        found_reply: dict[str, Any] = next(r for r in reversed(self.result.replies) if r["type"] == kind)
        return found_reply

    async def stop_reading(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


async def call(
    url: str,
    tracks: dict[str, Pcm],
    options: StreamOptions,
    *,
    api_key: str,
    client_secret: str = "",
    call_id: str | None = None,
    caller: str = "+15550100001",
    callee: str = "+18005550100",
) -> AudioHookResult:
    """One conversation: `tracks` are the external (customer) and internal (agent) parties at 8 kHz. Chunks in
    `options.impairments.drop` are not sent and reported as `discarded`. `call_id=PROBE` is Genesys' probe."""
    conversation = call_id or str(uuid.uuid4())
    session_id = str(uuid.uuid4())
    result = AudioHookResult(conversation)
    length = max(len(pcm.data) for pcm in tracks.values())  # both channels run the whole conversation
    external, internal = (Pcm(pcm.data.ljust(length, b"\x00"), RATE).frames() for pcm in tracks.values())
    count = len(external) if conversation != PROBE else 0
    headers = upgrade_headers(url, session_id, api_key, client_secret)
    async with connect(url, additional_headers=headers, max_size=None, compression=None) as ws:
        session = _Session(ws, session_id, result)
        pacer = Pacer(options.speed)
        try:
            participant = {"id": str(uuid.uuid4()), "ani": caller, "aniName": "Caller", "dnis": callee}
            open_parameters = {
                "organizationId": headers["Audiohook-Organization-Id"],
                "conversationId": conversation,
                "participant": participant,
                "media": offers(("external", "internal")),
                "language": "en-US",
            }
            await session.send("open", open_parameters)
            if await session.reply("opened") is None:
                raise ConnectionClosed(None, None)
            frame_samples, discard_from = int(RATE * FRAME_S), None
            for index in range(count):
                await pacer.until(index * FRAME_S)
                if index and index % round(PING_EVERY_S / FRAME_S) == 0:
                    await session.send("ping", {"rtt": "PT0.05S"})
                if index in options.impairments.drop:
                    discard_from = session.position if discard_from is None else discard_from
                    session.position += frame_samples
                    continue
                if discard_from is not None:  # the span ends: Genesys reports it before sending again
                    span = session.position - discard_from
                    await session.send("discarded", {"start": duration(discard_from), "discarded": duration(span)})
                    discard_from = None
                frame = _interleave(to_ulaw(external[index]), to_ulaw(internal[index]))
                await ws.send(frame)
                session.position += frame_samples
                result.sent_bytes += len(frame)  # both channels' bytes, as for every simulator
            if options.send_end and options.end == "close":
                await session.send("close", {"reason": "end"})
                await session.reply("closed")
            await hang_up(ws, result, pacer, options.end)
        except ConnectionClosed:
            pass
        finally:
            await session.stop_reading()
    result.close_code = recorder_close_code(ws)
    return result


def _interleave(left: bytes, right: bytes) -> bytes:
    out = bytearray(2 * len(left))
    out[0::2], out[1::2] = left, right
    return bytes(out)
