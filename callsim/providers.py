"""The simulated providers by name, as `python -m callsim --provider NAME` offers them."""

from __future__ import annotations

from . import plivo, telnyx, twilio, vonage, voxology
from .audio import Pcm
from .common import CallResult, Provider, StreamOptions


async def _signalwire(
    answer_url: str, tracks: dict[str, Pcm], options: StreamOptions, call_id: str | None
) -> CallResult:
    return await twilio.call(answer_url, tracks, options, dialect="signalwire", call_id=call_id)


async def _twilio(answer_url: str, tracks: dict[str, Pcm], options: StreamOptions, call_id: str | None) -> CallResult:
    return await twilio.call(answer_url, tracks, options, call_id=call_id)


async def _voxology(answer_url: str, tracks: dict[str, Pcm], options: StreamOptions, call_id: str | None) -> CallResult:
    return await voxology.call(answer_url, tracks, options, call_id=call_id)


PROVIDERS: dict[str, Provider] = {
    "vonage": Provider("/vonage/answer", ("mix",), ("l16",), vonage.place),
    "twilio": Provider("/twilio/answer", ("inbound", "outbound"), ("mulaw",), _twilio),
    "signalwire": Provider("/twilio/answer", ("inbound", "outbound"), ("mulaw", "l16"), _signalwire),
    "voxology": Provider("/voxology/answer", ("caller", "transfer"), ("mulaw",), _voxology),
    # Telnyx streams the codec its TeXML asks for (the function's TELNYX_CODEC): mu-law or A-law, 8 kHz.
    "telnyx": Provider("/telnyx/answer", ("inbound", "outbound"), ("mulaw", "alaw"), telnyx.place),
    "plivo": Provider("/plivo/answer", ("inbound", "outbound"), ("mulaw",), plivo.place),
}
