"""Protocol adapters: one small, pure module per provider, turning messages into `events`.

An adapter is a stateful object with `receive(message) -> list[Event]`, where `message` is a WebSocket text
message (str) or binary message (bytes). It does no I/O and raises only `ProtocolError`. Every adapter has the
same shape, so a new provider is a copy of one of them:

- `receive` reads the message (`_fields.json_object`) and dispatches on its kind to the steps `_handshake`
  (the message that names the call: returns `CallStarted`), `_audio`, `_dtmf` and `_end` (`CallEnded` with
  a reason for the metadata); everything else is `Ignored`. A provider without one of these messages (Vonage has
  no end message, Voxology sends DTMF by webhook) has no such step.
- One state: `self._call: CallStarted | None`, set by `_handshake`. Before it, only the provider's own opening
  messages are accepted (Twilio's and Telnyx's `connected`); anything else, audio or another provider's
  protocol on this path, is 1002 at once.
- The same fault gets the same answer, in `_fields.py`: a required field missing (a handshake without its
  call id) is 1002, a field of the wrong type 1007; a DTMF message without a digit is ignored.
- Audio is decoded by a table from the provider's encoding name and rate to a `_codecs.Codec`; anything else
  is refused with 1003.
- Positions: the provider's own clock (Twilio's ms timestamp), the running sample count (Vonage), or chunk
  numbers placed by cumulative samples (`_placement.py`: Voxology, Telnyx, Plivo).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from ..events import Event
from ..settings import Settings
from . import asterisk, audiohook
from .asterisk import AsteriskAdapter
from .audiohook import AudioHookAdapter
from .jambonz import JambonzAdapter
from .plivo import PlivoAdapter
from .telnyx import TelnyxAdapter
from .twilio import TwilioAdapter
from .vonage import VonageAdapter
from .voxology import VoxologyAdapter


class Adapter(Protocol):
    def receive(self, message: str | bytes) -> list[Event]: ...


# The /ws/<provider> path segment -> the adapter for its stream.
ADAPTERS: dict[str, Callable[[], Adapter]] = {
    "vonage": VonageAdapter,
    "twilio": TwilioAdapter,  # and SignalWire, whose <Stream> speaks the same messages
    "voxology": VoxologyAdapter,
    "telnyx": TelnyxAdapter,
    "plivo": PlivoAdapter,
    "audiohook": AudioHookAdapter,  # Genesys Cloud AudioHook Monitor
    "asterisk": AsteriskAdapter,
    "jambonz": JambonzAdapter,
}
# Of those, the adapters that also read the stream URL's query: Asterisk's dial string adds its v(...) there.
QUERY_ADAPTERS: dict[str, Callable[[Mapping[str, str]], Adapter]] = {
    "asterisk": AsteriskAdapter,
}


# Streams admitted by their upgrade's credentials, not a token (CallStarted.admitted_at_upgrade): the check each
# upgrade must pass, (headers by lowercase name, request target, settings) -> the problem, or None.
UpgradeCheck = Callable[[Mapping[str, str], str, Settings], "str | None"]
UPGRADE_CHECKS: dict[str, UpgradeCheck] = {
    "audiohook": audiohook.check_upgrade,
    "asterisk": asterisk.check_upgrade,
}


def adapter_for(provider: str, query: Mapping[str, str] | None = None) -> Adapter | None:
    with_query = QUERY_ADAPTERS.get(provider)
    if with_query is not None:
        return with_query(query or {})
    factory = ADAPTERS.get(provider)
    return factory() if factory else None
