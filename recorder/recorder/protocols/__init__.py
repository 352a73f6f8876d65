"""Protocol adapters: one small, pure module per provider, turning messages into `events`.

An adapter is a stateful object with `receive(message) -> list[Event]`, where `message` is a WebSocket text
message (str) or binary message (bytes). It does no I/O and raises only `ProtocolError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from ..events import INVALID_PAYLOAD, Event, ProtocolError


class Adapter(Protocol):
    def receive(self, message: str | bytes) -> list[Event]: ...


def json_object(text: str) -> dict[str, Any]:
    """Parse a text message that must be a JSON object."""
    try:
        data = json.loads(text)
    except ValueError:
        raise ProtocolError(INVALID_PAYLOAD, "text message is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError(INVALID_PAYLOAD, "text message is not a JSON object")
    return data


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
