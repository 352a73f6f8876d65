"""The simulated providers by name, as `python -m callsim --provider NAME` offers them."""

from __future__ import annotations

from . import twilio, vonage, voxology
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
}
