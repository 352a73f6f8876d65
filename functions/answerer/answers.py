"""Answer documents, built as plain data: no I/O, no settings lookups, so each is tested with golden values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

VONAGE_STREAM_PATH = "/ws/vonage"


@dataclass(frozen=True)
class CallFacts:
    call_id: str
    caller: str = ""
    callee: str = ""
    conversation_id: str = ""


def vonage_ncco(
    call: CallFacts, *, recorder_url: str, token: str, sample_rate: int, greeting: str, event_url: str
) -> list[dict[str, Any]]:
    """Voice API NCCO: an optional notice, then connect the call to the recorder's WebSocket.

    `headers` reach the recorder flattened into the first message (websocket:connected), so the recorder
    learns the call's uuid and numbers from there; the token rides in the uri's query string.
    """
    ncco: list[dict[str, Any]] = []
    if greeting:
        ncco.append({"action": "talk", "text": greeting})
    ncco.append(
        {
            "action": "connect",
            "eventUrl": [event_url],
            "endpoint": [
                {
                    "type": "websocket",
                    "uri": f"{recorder_url}{VONAGE_STREAM_PATH}?{urlencode({'token': token})}",
                    "content-type": f"audio/l16;rate={sample_rate}",
                    "headers": {
                        "uuid": call.call_id,
                        "conversation_uuid": call.conversation_id,
                        "from": call.caller,
                        "to": call.callee,
                    },
                }
            ],
        }
    )
    return ncco
