"""Reading the fields of a provider's JSON messages, with one policy for every adapter.

- A message that is not JSON (RFC 8259: no NaN or Infinity), not an object, or nested past the parser's limit,
  and a field of the wrong type (a number where a string belongs, a list where an object belongs): 1007.
- A field the provider's protocol requires that is missing or empty (a handshake without a call id, a chunk
  without its position): 1002.
- Anything read from a message and kept (metadata, log lines, reasons) is clipped to one of the lengths below.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ..closing import CloseCode, ProtocolError
from ..events import Dtmf, Event, Ignored

# How much of a provider's text is kept, by what it becomes.
KIND = 40  # an event name in a log line ("ignoring ... messages")
TRACK = 20  # a track name
DIGIT = 8  # a DTMF digit (Vonage, Twilio and Telnyx send one character; the spare room costs nothing)
VALUE = 64  # a metadata value: a stream id, a phone number
HEADER = 200  # a free-text metadata value (Vonage's NCCO headers)
REASON = 80  # a provider's own error text, in the call's end_reason
MAX_DIGITS = 18  # a number in a message: Plivo's epoch milliseconds need 13; more is no clock (and fits int64)


def clip(value: object, length: int) -> str:
    return str(value)[:length]


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def json_object(message: str | bytes, provider: str) -> dict[str, Any]:
    """A text message that must hold a JSON object; binary messages do not belong on a JSON stream."""
    if not isinstance(message, str):
        raise ProtocolError(CloseCode.UNSUPPORTED_DATA, f"binary message on a {provider} stream")
    try:
        data = json.loads(message, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise ProtocolError(CloseCode.INVALID_PAYLOAD, "text message is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError(CloseCode.INVALID_PAYLOAD, "text message is not a JSON object")
    return data


def sub_object(data: dict[str, Any], key: str, message: str) -> dict[str, Any]:
    """`data[key]`, which the protocol requires to be an object (start.mediaFormat, media, dtmf...)."""
    value = data.get(key)
    if value is None:
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"{message} message without {key}")
    if not isinstance(value, dict):
        raise ProtocolError(CloseCode.INVALID_PAYLOAD, f"{message}.{key} is not an object")
    return value


def optional_object(data: dict[str, Any], key: str, what: str) -> dict[str, Any]:
    """`data[key]` if present (an object), else {}."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProtocolError(CloseCode.INVALID_PAYLOAD, f"{what} is not an object")
    return value


def required_str(data: dict[str, Any], key: str, what: str) -> str:
    value = data.get(key)
    if value is None or value == "":
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"{what} without {key}")
    if not isinstance(value, str):
        raise ProtocolError(CloseCode.INVALID_PAYLOAD, f"{what}: {key} is not a string")
    return value


def whole_number(value: object, what: str) -> int:
    """A non-negative integer sent as a JSON number or as a string of digits (Twilio, Telnyx and Plivo send
    numbers both ways). Floats, booleans and anything else are refused: a position must be exact."""
    if value is None or value == "":
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"{what} is missing")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= MAX_DIGITS:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**MAX_DIGITS:
        return value
    raise ProtocolError(CloseCode.INVALID_PAYLOAD, f"{what} is not a whole number of at most {MAX_DIGITS} digits")


def base64_payload(value: object, what: str) -> bytes:
    if value is None:
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"{what} is missing")
    if not isinstance(value, str):
        raise ProtocolError(CloseCode.INVALID_PAYLOAD, f"{what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(CloseCode.INVALID_PAYLOAD, f"{what} is not valid base64") from None


def echoed(parameters: object) -> tuple[str | None, str, str]:
    """The token, caller and callee our answer document asked the provider to send back (Twilio's
    customParameters, Voxology's stream_data, Telnyx's custom_parameters). Not ours to require: absent or
    mistyped values are simply not there, and the token check refuses the call."""
    fields = parameters if isinstance(parameters, dict) else {}
    token = fields.get("token")
    caller, callee = (clip(fields.get(name, ""), VALUE) for name in ("from", "to"))
    return token if isinstance(token, str) else None, caller, callee


def key_press(value: object, duration_ms: int | None = None, kind: str = "dtmf") -> list[Event]:
    """A DTMF message's digit as an event. One without a digit is ignored, never fatal: a key press is not
    audio, and ending a recording over a malformed one would cost the call."""
    if not isinstance(value, str) or not value:
        return [Ignored(f"{kind} without a digit")]
    return [Dtmf(value[:DIGIT], duration_ms)]
