"""Genesys Cloud AudioHook Monitor, protocol version 2 (Genesys' reference server, purecloudlabs/
audiohook-reference-implementation, and the dossier shared/protocols/audiohook-asterisk-jambonz.md section 1).

- Genesys is the client and dials /ws/audiohook; the upgrade carries `X-API-KEY` and, when a client secret is
  configured, an HTTP message signature (`check_upgrade`). No answer document, so no per-call token: the upgrade's
  credentials admit the stream (`CallStarted.admitted_at_upgrade`).
- Every text message is JSON with `version` "2", `id` (the session), `type`, `seq` (per sender, from 1, +1 each
  message) and `parameters`. The client's also carry `serverseq` and `position` (an ISO 8601 duration, `PT1.5S`);
  ours carry `clientseq`, the last client seq seen. The reference server refuses a seq that is not the last + 1.
- open (conversationId, participant, media offers) -> opened (the one offer chosen) -> binary audio, headerless,
  the chosen channels interleaved sample by sample; ping -> pong, update -> updated, close -> closed.
- paused / resumed{start, discarded} / discarded{start, discarded}: spans of the conversation the client did not
  send. The file keeps conversation time: the next audio goes at `start` + `discarded`, so the span is silence.
  We read `start` as conversation time (the client's `position` including what it discarded); the protocol
  reference that would settle it is not in our sources, and the README says so.
- A conversationId of all zeros is Genesys' connection probe: answered like any session, never recorded.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import time
from collections.abc import Mapping
from decimal import Decimal
from hashlib import sha256
from typing import Any

from http_sfv.dictionary import Dictionary
from http_sfv.item import InnerList

from ..closing import CloseCode, ProtocolError
from ..events import Audio, CallEnded, CallStarted, Event, Ignored, Reply
from ..settings import Settings
from ._codecs import MULAW
from ._fields import KIND, REASON, VALUE, clip, json_object, optional_object, required_str, sub_object, whole_number
from ._placement import ByteClock

PROVIDER = "audiohook"
VERSION = "2"
SAMPLE_RATE = 8000
TRACKS = ("external", "internal")  # channel 0 (left) the customer, channel 1 (right) the agent or IVR
PROBE = "00000000-0000-0000-0000-000000000000"
_DURATION = re.compile(r"PT(\d{1,9})(?:\.(\d{1,9}))?S")


class AudioHookAdapter:
    def __init__(self) -> None:
        self._call: CallStarted | None = None
        self._session: str | None = None  # the id every message of this session carries
        self._opened = False
        self._channels: tuple[str, ...] = ()  # the chosen offer's channels, in the frames' interleaving order
        self._seq = 0  # the last seq we sent
        self._clientseq = 0  # the last seq the client sent
        self._clock = ByteClock(1)  # conversation samples: PCMU, a byte per channel, the channels interleaved

    def receive(self, message: str | bytes) -> list[Event]:
        if not isinstance(message, str):
            return self._audio(bytes(message))
        data = json_object(message, "AudioHook")
        kind = self._envelope(data)
        if kind == "open":
            return self._handshake(data)
        if not self._opened:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"first message is {clip(kind, KIND)!r}, not open")
        if kind == "ping":
            return [self._reply("pong")]
        if kind == "update":
            return [self._reply("updated")]
        if kind in ("discarded", "resumed"):
            return self._skip(data, kind)
        if kind == "close":
            return self._end(data)
        return [Ignored(clip(kind, KIND))]  # paused (audio just stops), error (a close follows), and newer

    def _envelope(self, data: dict[str, Any]) -> str:
        """Check what every client message carries; return its type."""
        if data.get("version") != VERSION:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"AudioHook version {clip(data.get('version'), KIND)!r}")
        session = required_str(data, "id", "AudioHook message")
        if self._session is None:
            self._session = clip(session, VALUE)
        elif session != self._session:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "session id changed within the session")
        seq = whole_number(data.get("seq"), "seq")
        if seq != self._clientseq + 1:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"seq {seq} after {self._clientseq}: not the next")
        if whole_number(data.get("serverseq", 0), "serverseq") > self._seq:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "serverseq ahead of what we sent")
        self._clientseq = seq
        return required_str(data, "type", "AudioHook message")

    def _reply(self, kind: str, parameters: dict[str, Any] | None = None) -> Reply:
        self._seq += 1
        message = {
            "version": VERSION,
            "type": kind,
            "seq": self._seq,
            "clientseq": self._clientseq,
            "id": self._session,
            "parameters": parameters or {},
        }
        return Reply(json.dumps(message, separators=(",", ":")))

    def _handshake(self, data: dict[str, Any]) -> list[Event]:
        if self._opened:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "a second open")
        parameters = sub_object(data, "parameters", "open")
        conversation = required_str(parameters, "conversationId", "open")
        media = _choose(parameters.get("media"))
        self._channels = tuple(media["channels"])
        self._clock.width = len(self._channels)
        self._opened = True
        opened = self._reply("opened", {"startPaused": False, "media": [media]})
        if conversation == PROBE:
            return [opened, Ignored("connection probe (not recorded)")]
        participant = optional_object(parameters, "participant", "open.participant")
        self._call = CallStarted(
            provider=PROVIDER,
            call_id=conversation,
            sample_rate=SAMPLE_RATE,
            tracks=tuple(track for track in TRACKS if track in self._channels),
            caller=clip(participant.get("ani", ""), VALUE),
            callee=clip(participant.get("dnis", ""), VALUE),
            extra={
                "session_id": self._session or "",
                "organization_id": clip(parameters.get("organizationId", ""), VALUE),
                "participant_id": clip(participant.get("id", ""), VALUE),
                "language": clip(parameters.get("language", ""), VALUE),
            },
            admitted_at_upgrade=True,
        )
        return [opened, self._call]

    def _audio(self, data: bytes) -> list[Event]:
        if not self._opened:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "audio before open")
        if self._call is None:
            return [Ignored("audio on a connection probe")]
        position, data = self._clock.take(data)
        if not data:
            return []
        width = self._clock.width
        return [
            Audio(channel, position, MULAW.decode(data[index::width])) for index, channel in enumerate(self._channels)
        ]

    def _skip(self, data: dict[str, Any], kind: str) -> list[Event]:
        """A span the client did not send: the next audio goes after it, so the span is silence."""
        parameters = sub_object(data, "parameters", kind)
        start = samples(parameters.get("start"), f"{kind}.start")
        length = samples(parameters.get("discarded"), f"{kind}.discarded")
        self._clock.position = max(self._clock.position, start + length)
        return []  # the timeline fills the span with silence, and counts it in the metadata's gaps and gap_ms

    def _end(self, data: dict[str, Any]) -> list[Event]:
        reason = optional_object(data, "parameters", "close.parameters").get("reason", "")
        return [self._reply("closed"), CallEnded(f"close: {clip(reason, REASON)}" if reason else "close")]


def _choose(offers: object) -> dict[str, Any]:
    """The offer to take: PCMU at 8 kHz, stereo external + internal if offered, else the first mono one."""
    if not isinstance(offers, list) or not offers:
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "open offers no media")
    usable = []
    for offer in offers:
        if not isinstance(offer, dict):
            raise ProtocolError(CloseCode.INVALID_PAYLOAD, "open.media holds a non-object")
        channels = offer.get("channels")
        if (
            offer.get("type") == "audio"
            and offer.get("format") == "PCMU"
            and offer.get("rate") == SAMPLE_RATE
            and isinstance(channels, list)
            and channels
            and len(set(map(str, channels))) == len(channels)
            and all(channel in TRACKS for channel in channels)
        ):
            usable.append({"type": "audio", "format": "PCMU", "channels": channels, "rate": SAMPLE_RATE})
    if not usable:
        raise ProtocolError(CloseCode.UNSUPPORTED_DATA, "open offers no PCMU audio at 8000 Hz")
    return max(usable, key=lambda offer: (len(offer["channels"]), offer["channels"] == list(TRACKS)))


def samples(value: object, what: str) -> int:
    """An AudioHook duration (`PT12.5S`: ISO 8601, seconds only, as the reference's core.ts types it) in samples."""
    if value is None:
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"{what} is missing")
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ProtocolError(CloseCode.INVALID_PAYLOAD, f"{what} is not a duration like PT1.5S")
    seconds = Decimal(f"{match.group(1)}.{match.group(2) or 0}")
    return int(seconds * SAMPLE_RATE)


# The upgrade: X-API-KEY, and the HTTP message signature (draft-ietf-httpbis-message-signatures-11) that Genesys
# adds when a client secret is configured. Matches the reference's app/src/authenticator.ts and
# app/audiohook/src/httpsignature/signature-verifier.ts.
SIGNED_COMPONENTS = (
    "@request-target",
    "@authority",
    "audiohook-organization-id",
    "audiohook-session-id",
    "audiohook-correlation-id",
    "x-api-key",
)
MAX_CLOCK_SKEW_S = 3
MAX_SIGNATURE_AGE_S = 10
MIN_NONCE = 22
_PARAMETERS = {"alg": str, "created": int, "expires": int, "keyid": str, "nonce": str}


def check_upgrade(headers: Mapping[str, str], target: str, settings: Settings, now: float | None = None) -> str | None:
    """Why this upgrade may not open an AudioHook stream, or None. `headers` by lowercase name; `target` the
    request target as sent (path and query)."""
    if not settings.audiohook_api_key:
        return "AudioHook streams are not accepted: AUDIOHOOK_API_KEY is not set"
    presented = _field(headers, "x-api-key")
    if not presented:
        return "no X-API-KEY on the upgrade"
    if not hmac.compare_digest(presented.encode(), settings.audiohook_api_key.encode()):
        return "X-API-KEY is not the configured key"
    if not settings.audiohook_client_secret:
        return None
    secret = base64.b64decode(settings.audiohook_client_secret)
    return signature_problem(headers, target, presented, secret, time.time() if now is None else now)


def _field(headers: Mapping[str, str], name: str) -> str:
    """A header field's value, canonicalized as the signature base needs it (draft-11 section 2.1)."""
    return re.sub(r"[ \t]*\r\n[ \t]+", " ", headers.get(name, "")).strip()


def signature_problem(headers: Mapping[str, str], target: str, api_key: str, secret: bytes, now: float) -> str | None:
    if not (_field(headers, "signature-input") and _field(headers, "signature")):
        return "the upgrade is not signed, and a client secret is configured"
    try:
        inputs, signatures = Dictionary(), Dictionary()
        inputs.parse(_field(headers, "signature-input").encode())
        signatures.parse(_field(headers, "signature").encode())
    except ValueError:
        return "Signature or Signature-Input is not a structured field dictionary"
    label = next(iter(inputs))
    covered, signature = inputs[label], signatures.get(label)
    if not isinstance(getattr(signature, "value", None), bytes):
        return f"no Signature for {label!r}"
    if not isinstance(covered, InnerList) or not all(isinstance(c.value, str) for c in covered):
        return "Signature-Input is not a list of component names"
    parameters: dict[str, Any] = dict(covered.params)
    for name, value in parameters.items():
        kind = _PARAMETERS.get(name)
        if kind is None or type(value) is not kind or (isinstance(value, int) and value < 0):
            return f"Signature-Input parameter {name!r} is unknown or mistyped"
    problem = _parameters_problem(parameters, api_key, now)
    if problem:
        return problem
    names = [component.value for component in covered]
    if any(component.params for component in covered) or len(set(names)) != len(names):
        return "Signature-Input has component parameters or repeats a component"
    missing = [name for name in SIGNED_COMPONENTS if name not in names]
    if missing:
        return f"the signature does not cover {', '.join(missing)}"
    lines = []
    for name in names:
        if name == "@request-target":
            value = target
        elif name == "@authority":
            value = _field(headers, "host")
        elif name.startswith("@") or name == "signature":
            return f"the signature covers {name!r}, which is not supported"
        else:
            value = _field(headers, name)
        if not value:
            return f"the signature covers {name!r}, which the upgrade lacks"
        lines.append(f'"{name}": {value}')
    lines.append(f'"@signature-params": {covered}')
    expected = hmac.new(secret, "\n".join(lines).encode(), sha256).digest()
    if not hmac.compare_digest(expected, getattr(signature, "value", b"")):
        return "the signature does not match"
    return None


def _parameters_problem(parameters: dict[str, Any], api_key: str, now: float) -> str | None:
    created, expires = parameters.get("created"), parameters.get("expires")
    if created is None:
        return "the signature has no created time"
    if created > now + MAX_CLOCK_SKEW_S:
        return "the signature was created in the future"
    soon = now + MAX_CLOCK_SKEW_S  # as the reference verifier has it: both limits are met this early
    if (expires is not None and expires < soon) or created + MAX_SIGNATURE_AGE_S < soon:
        return "the signature has expired"
    if len(parameters.get("nonce", "")) < MIN_NONCE:
        return "the signature's nonce is missing or short"
    if parameters.get("keyid") != api_key:
        return "the signature's keyid is not the X-API-KEY"
    if parameters.get("alg", "hmac-sha256") != "hmac-sha256":
        return "the signature's algorithm is not hmac-sha256"
    return None
