"""Asterisk's WebSocket channel driver, chan_websocket (Asterisk 20.16+, 21.11+, 22.6+, 23), Asterisk dialling
out to /ws/asterisk (docs.asterisk.org Configuration/Channel-Drivers/WebSocket; channels/chan_websocket.c).

- The upgrade carries HTTP Basic credentials from websocket_client.conf (`check_upgrade`); there is no answer
  document, so no per-call token: the credentials admit the stream (`CallStarted.admitted_at_upgrade`).
- The first text message is MEDIA_START, plain text (`MEDIA_START connection_id:... channel:... channel_id:...
  format:ulaw optimal_frame_size:160 ptime:20`) or JSON (`{"event": "MEDIA_START", ..., "channel_variables":
  {...}}`, `f(json)` in the dial string or chan_websocket.conf's control_message_format).
- Binary messages are raw media in `format`, no headers: ulaw, alaw, slin (8 kHz) or slin16 (16 kHz) signed
  linear, little-endian (Asterisk's host order; the channel driver's page does not say, AudioSocket's does). No
  timestamps: audio is placed by the running sample count.
- DTMF_END (`digit:5`) gives key presses; other notifications (MEDIA_XOFF, STATUS...) are ignored.
- The end is the WebSocket closing (its code is the channel's hangup cause, or 1000); there is no stop message.
- One mono stream: what the channel hears in its bridge, both parties mixed.
- The call id: the `call_id` query parameter when the dial string adds one (`v(call_id=${UNIQUEID})`), else the
  channel_id (else the connection_id: the documentation's plain-text example has no channel_id).
  `from` and `to` come from the query the same way, or from channel_variables.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from typing import Any

from ..closing import CloseCode, ProtocolError
from ..events import Audio, CallStarted, Event, Ignored
from ..settings import Settings
from ._codecs import ALAW, L16_LE, MULAW, CodecTable, codec_for
from ._fields import KIND, VALUE, clip, json_object, key_press, optional_object
from ._placement import ByteClock

PROVIDER = "asterisk"
TRACK = "mix"
RATES = {"ulaw": 8000, "alaw": 8000, "slin": 8000, "slin16": 16000}  # Asterisk's format names
CODECS: CodecTable = {("ulaw", 8000): MULAW, ("alaw", 8000): ALAW, ("slin", 8000): L16_LE, ("slin16", 16000): L16_LE}
MAX_FIELDS = 20  # of a plain-text control message


class AsteriskAdapter:
    def __init__(self, query: Mapping[str, str] | None = None) -> None:
        self._query = query or {}
        self._call: CallStarted | None = None
        self._clock = ByteClock(1)  # bytes per sample on the wire, once MEDIA_START names the codec
        self._decode = MULAW.decode

    def receive(self, message: str | bytes) -> list[Event]:
        if not isinstance(message, str):
            return self._audio(bytes(message))
        data = control_message(message)
        event = data.get("event")
        if event == "MEDIA_START":
            return [self._handshake(data)]
        if self._call is None:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"first message is {clip(event, KIND)!r}, not MEDIA_START")
        if event == "DTMF_END":
            return key_press(data.get("digit"), kind="DTMF_END")
        return [Ignored(clip(event, KIND))]

    def _handshake(self, data: dict[str, Any]) -> CallStarted:
        if self._call is not None:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "a second MEDIA_START")
        media_format = data.get("format")
        if not media_format:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "MEDIA_START without format")
        name = str(media_format).lower()
        codec = codec_for(CODECS, name, RATES.get(name, 0))
        self._clock.width, self._decode = codec.sample_width, codec.decode
        variables = optional_object(data, "channel_variables", "MEDIA_START.channel_variables")
        call_id = self._query.get("call_id") or data.get("channel_id") or data.get("connection_id")
        if not call_id or not isinstance(call_id, str):
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "MEDIA_START without channel_id, and no call_id parameter")
        caller, callee = (clip(self._query.get(key) or variables.get(key) or "", VALUE) for key in ("from", "to"))
        self._call = CallStarted(
            provider=PROVIDER,
            call_id=call_id,
            sample_rate=RATES[name],
            tracks=(TRACK,),
            caller=caller,
            callee=callee,
            extra={
                key: clip(data.get(key, ""), VALUE)
                for key in ("channel", "channel_id", "connection_id", "format")
                if data.get(key)
            },
            admitted_at_upgrade=True,
        )
        return self._call

    def _audio(self, data: bytes) -> list[Event]:
        if self._call is None:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "audio before MEDIA_START")
        position, data = self._clock.take(data)
        if not data:
            return []
        return [Audio(TRACK, position, self._decode(data))]


def control_message(message: str) -> dict[str, Any]:
    """A text message in either of chan_websocket's forms, as a dict with its `event`: JSON, or plain text (the
    event name, then `key:value` words)."""
    if message.lstrip().startswith("{"):
        return json_object(message, "Asterisk")
    words = message.split(maxsplit=MAX_FIELDS)[:MAX_FIELDS]
    fields: dict[str, Any] = {"event": words[0] if words else ""}
    for word in words[1:]:
        key, _, value = word.partition(":")
        fields.setdefault(key, value)
    return fields


def check_upgrade(headers: Mapping[str, str], target: str, settings: Settings) -> str | None:
    """Why this upgrade may not open an Asterisk stream, or None. `headers` by lowercase name; `target` unused."""
    if not (settings.asterisk_username and settings.asterisk_password):
        return "Asterisk streams are not accepted: ASTERISK_USERNAME and ASTERISK_PASSWORD are not set"
    scheme, _, encoded = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "basic":
        return "no HTTP Basic credentials on the upgrade"
    try:
        username, colon, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
    except (binascii.Error, ValueError):
        return "the Basic credentials are not base64"
    expected = (settings.asterisk_username.encode(), settings.asterisk_password.encode())
    user_ok = hmac.compare_digest(username, expected[0])
    if not (colon and user_ok and hmac.compare_digest(password, expected[1])):
        return "the Basic credentials are not the configured ones"
    return None
