"""Protocol adapters: one small, pure module per provider, turning messages into `events`.

An adapter is a stateful object with `receive(message) -> list[Event]`, where `message` is a WebSocket text
message (str) or binary message (bytes). It does no I/O and raises only `ProtocolError`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any, Protocol

from ..closing import CloseCode, ProtocolError
from ..events import Event


class Adapter(Protocol):
    def receive(self, message: str | bytes) -> list[Event]: ...


def json_object(text: str) -> dict[str, Any]:
    """Parse a text message that must be a JSON object."""
    try:
        data = json.loads(text)
    except ValueError:
        raise ProtocolError(CloseCode.INVALID_PAYLOAD, "text message is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError(CloseCode.INVALID_PAYLOAD, "text message is not a JSON object")
    return data


def echoed(parameters: object) -> tuple[str | None, str, str]:
    """The token, caller and callee our answer document asked the provider to send back (Twilio's
    customParameters, Voxology's stream_data)."""
    fields = parameters if isinstance(parameters, dict) else {}
    token = fields.get("token")
    caller, callee = (str(fields.get(name, ""))[:64] for name in ("from", "to"))
    return token if isinstance(token, str) else None, caller, callee


def base64_payload(value: object, what: str) -> bytes:
    try:
        return base64.b64decode(value if isinstance(value, str | bytes) else "", validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(CloseCode.INVALID_PAYLOAD, f"{what} is not valid base64") from None


def adapter_for(provider: str) -> Adapter | None:
    # Imported here so that each provider module stays independent of the registry.
    from . import twilio, vonage, voxology

    factories: dict[str, Callable[[], Adapter]] = {
        "vonage": vonage.VonageAdapter,
        "twilio": twilio.TwilioAdapter,  # and SignalWire, whose <Stream> speaks the same messages
        "voxology": voxology.VoxologyAdapter,
    }
    factory = factories.get(provider)
    return factory() if factory else None
