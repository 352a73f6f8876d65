"""The simulated providers by name, as `python -m callsim --provider NAME` offers them."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from . import asterisk, audiohook, jambonz, plivo, telnyx, twilio, vonage, voxology
from .audio import Pcm
from .common import CallResult, Provider, StreamOptions

Place = Callable[[str, dict[str, Pcm], StreamOptions, str | None], Awaitable[CallResult]]


async def _signalwire(
    answer_url: str, tracks: dict[str, Pcm], options: StreamOptions, call_id: str | None
) -> CallResult:
    return await twilio.call(answer_url, tracks, options, dialect="signalwire", call_id=call_id)


async def _twilio(answer_url: str, tracks: dict[str, Pcm], options: StreamOptions, call_id: str | None) -> CallResult:
    return await twilio.call(answer_url, tracks, options, call_id=call_id)


async def _voxology(answer_url: str, tracks: dict[str, Pcm], options: StreamOptions, call_id: str | None) -> CallResult:
    return await voxology.call(answer_url, tracks, options, call_id=call_id)


async def _audiohook(url: str, tracks: dict[str, Pcm], options: StreamOptions, call_id: str | None) -> CallResult:
    api_key, secret = os.environ.get("AUDIOHOOK_API_KEY", ""), os.environ.get("AUDIOHOOK_CLIENT_SECRET", "")
    return await audiohook.call(url, tracks, options, api_key=api_key, client_secret=secret, call_id=call_id)


def _asterisk(control: asterisk.ControlFormat) -> Place:
    async def place(url: str, tracks: dict[str, Pcm], options: StreamOptions, call_id: str | None) -> CallResult:
        [audio] = tracks.values()
        username, password = os.environ.get("ASTERISK_USERNAME", ""), os.environ.get("ASTERISK_PASSWORD", "")
        call_id = call_id or f"asterisk-{os.urandom(6).hex()}"  # as v(call_id=${UNIQUEID}) would add it
        return await asterisk.call(
            url, audio, options, username=username, password=password, control=control, call_id=call_id
        )

    return place


async def _jambonz(answer_url: str, tracks: dict[str, Pcm], options: StreamOptions, call_id: str | None) -> CallResult:
    return await jambonz.call(answer_url, tracks, options, call_id=call_id)


PROVIDERS: dict[str, Provider] = {
    "vonage": Provider("/vonage/answer", ("mix",), ("l16",), vonage.place),
    "twilio": Provider("/twilio/answer", ("inbound", "outbound"), ("mulaw",), _twilio),
    "signalwire": Provider("/twilio/answer", ("inbound", "outbound"), ("mulaw", "l16"), _signalwire),
    "voxology": Provider("/voxology/answer", ("caller", "transfer"), ("mulaw",), _voxology),
    # Telnyx streams the codec its TeXML asks for (the function's TELNYX_CODEC): mu-law or A-law, 8 kHz.
    "telnyx": Provider("/telnyx/answer", ("inbound", "outbound"), ("mulaw", "alaw"), telnyx.place),
    "plivo": Provider("/plivo/answer", ("inbound", "outbound"), ("mulaw",), plivo.place),
    "jambonz": Provider("/jambonz/answer", ("caller", "callee"), ("l16",), _jambonz),
}
# Systems that dial the recorder itself with the credentials it is configured with: no answer document, so their
# path is the recorder's (/ws/...), and `make smoke` (which knows only the function) leaves them out.
DIALERS: dict[str, Provider] = {
    "audiohook": Provider("/ws/audiohook", ("external", "internal"), ("mulaw",), _audiohook),
    "asterisk": Provider("/ws/asterisk", ("mix",), ("mulaw", "alaw", "l16"), _asterisk("plain-text")),
    "asterisk-json": Provider("/ws/asterisk", ("mix",), ("mulaw", "alaw", "l16"), _asterisk("json")),
}
