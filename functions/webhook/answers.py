"""Answer documents, built as plain data: no I/O, no settings lookups, so each is tested with golden values."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

VONAGE_STREAM_PATH = "/ws/vonage"
TWILIO_STREAM_PATH = "/ws/twilio"
VOXOLOGY_STREAM_PATH = "/ws/voxology"
TELNYX_STREAM_PATH = "/ws/telnyx"
PLIVO_STREAM_PATH = "/ws/plivo"
TELNYX_CODECS = ("PCMU", "PCMA")  # the two Telnyx transcodes to (TeXML <Stream> codec); G722/OPUS are the call's
PLIVO_CONTENT_TYPE = "audio/x-mulaw;rate=8000"  # L16's byte order is undocumented for Plivo; mu-law has none
JAMBONZ_STREAM_PATH = "/ws/jambonz"
VOICEMAIL_PROMPT = "Please leave your message after this notice. Hang up when you are done."
VOXOLOGY_TRACKS = ("caller", "transfer")


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


def twiml(call: CallFacts, *, recorder_url: str, token: str, greeting: str, forward_to: str, max_seconds: int) -> str:
    """TwiML that Twilio and SignalWire (cXML) both run: notice, stream both tracks, then dial or take a message.

    <Start><Stream> forks the audio and lets the call go on to the next verb; the url must not carry a query
    string (Twilio error 31922), so the token travels as a <Parameter> and comes back in start.customParameters.
    """
    response = ET.Element("Response")
    if greeting:
        ET.SubElement(response, "Say").text = greeting
    stream = ET.SubElement(
        ET.SubElement(response, "Start"), "Stream", url=f"{recorder_url}{TWILIO_STREAM_PATH}", track="both_tracks"
    )
    for name, value in (("token", token), ("from", call.caller), ("to", call.callee)):
        ET.SubElement(stream, "Parameter", name=name, value=value)
    _hold_or_forward(response, forward_to, max_seconds)
    return _xml(response)


def _hold_or_forward(response: ET.Element, forward_to: str, max_seconds: int) -> None:
    """TwiML and TeXML: dial FORWARD_TO while the stream records, or take a message. Without a next verb
    the call would hang up at once: <Dial> or a <Pause> keeps it open."""
    if forward_to:
        ET.SubElement(response, "Dial", timeLimit=str(max_seconds)).text = forward_to
    else:
        ET.SubElement(response, "Say").text = VOICEMAIL_PROMPT
        ET.SubElement(response, "Pause", length=str(max_seconds))


def _xml(response: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(response, encoding="unicode")


def telnyx_texml(
    call: CallFacts, *, recorder_url: str, token: str, codec: str, greeting: str, forward_to: str, max_seconds: int
) -> str:
    """TeXML (developers.telnyx.com, TeXML verbs > Stream): notice, stream both tracks, then dial or take a message.

    Whether Telnyx keeps a query string in the stream url, or supports <Parameter> in <Stream>, is undocumented,
    so the token is the url's last path segment. `codec` asks Telnyx to transcode the stream to PCMU or PCMA.
    """
    response = ET.Element("Response")
    if greeting:
        ET.SubElement(response, "Say").text = greeting
    url = f"{recorder_url}{TELNYX_STREAM_PATH}/{token}"
    ET.SubElement(ET.SubElement(response, "Start"), "Stream", url=url, track="both_tracks", codec=codec)
    _hold_or_forward(response, forward_to, max_seconds)
    return _xml(response)


def plivo_xml(
    call: CallFacts, *, recorder_url: str, token: str, greeting: str, forward_to: str, max_seconds: int
) -> str:
    """Plivo XML (docs.plivo.com, XML > Stream): notice, stream both tracks, then dial or take a message.

    The stream url is the element's text. One-way streaming (`bidirectional="false"`) is the only kind that
    may carry both tracks. With keepCallAlive left false, <Stream> does not block: the call goes on to <Dial>
    or <Wait> while it records (with it true, the next verb would wait for the stream to end). Plivo's support
    for a query string is undocumented, so the token is the url's last path segment; extraHeaders cannot carry
    it (letters and digits only, 512 bytes), but they do carry the call's numbers, which Plivo's start lacks.
    """
    response = ET.Element("Response")
    if greeting:
        ET.SubElement(response, "Speak").text = greeting
    numbers = {
        name: re.sub(r"[^0-9]", "", number)[:15] for name, number in (("from", call.caller), ("to", call.callee))
    }
    headers = ",".join(f"{name}={digits}" for name, digits in numbers.items() if digits)
    attributes = {
        "bidirectional": "false",
        "audioTrack": "both",
        "contentType": PLIVO_CONTENT_TYPE,
        "streamTimeout": str(max_seconds),
        **({"extraHeaders": headers} if headers else {}),
    }
    ET.SubElement(response, "Stream", attributes).text = f"{recorder_url}{PLIVO_STREAM_PATH}/{token}"
    if forward_to:
        ET.SubElement(ET.SubElement(response, "Dial", timeLimit=str(max_seconds)), "Number").text = forward_to
    else:
        ET.SubElement(response, "Speak").text = VOICEMAIL_PROMPT
        ET.SubElement(response, "Wait", length=str(max_seconds))
    return _xml(response)


def voxology_call_flow(
    call: CallFacts, *, recorder_url: str, token: str, greeting: str, max_seconds: int
) -> dict[str, Any]:
    """A Voxology call flow shaped like its Media Stream guide's: STREAM start, SAY, PAUSE, STREAM stop, HANGUP.

    `stream_data` is echoed back in init_stream: it carries the token and the call's numbers.
    """
    stream = {"url": f"{recorder_url}{VOXOLOGY_STREAM_PATH}", "tracks": list(VOXOLOGY_TRACKS)}
    stream_data = {"token": token, "from": call.caller, "to": call.callee}
    actions: list[dict[str, Any]] = [
        {"type": "STREAM", "params": {**stream, "action": "start", "stream_data": stream_data}}
    ]
    if greeting:
        actions.append({"type": "SAY", "params": {"text": greeting}})
    actions += [
        {"type": "SAY", "params": {"text": VOICEMAIL_PROMPT}},
        {"type": "PAUSE", "params": {"seconds": max_seconds}},
        {"type": "STREAM", "params": {**stream, "action": "stop"}},
        {"type": "HANGUP"},
    ]
    return {"actions": actions}


def jambonz_verbs(
    call: CallFacts,
    *,
    recorder_url: str,
    token: str,
    sample_rate: int,
    greeting: str,
    forward_to: str,
    max_seconds: int,
) -> list[dict[str, Any]]:
    """A jambonz verb array (docs.jambonz.org/verbs): the notice, then `listen` to the recorder, nested in `dial`
    when forwarding (both parties, one channel each) or standalone after the voicemail prompt.

    The token rides in the listen url's path, /ws/jambonz/<token>: jambonz sends no parameters of ours back on the
    socket, and the metadata frame is read only after the upgrade.
    """
    listen = {
        "verb": "listen",
        "url": f"{recorder_url}{JAMBONZ_STREAM_PATH}/{token}",
        "mixType": "stereo",
        "sampleRate": sample_rate,
        "passDtmf": True,
        "metadata": {"from": call.caller, "to": call.callee},
    }
    verbs: list[dict[str, Any]] = [{"verb": "say", "text": greeting}] if greeting else []
    if forward_to:
        nested = {key: value for key, value in listen.items() if key != "verb"}
        target = [{"type": "phone", "number": forward_to}]
        return [
            *verbs,
            {"verb": "dial", "callerId": call.caller, "target": target, "timeLimit": max_seconds, "listen": nested},
        ]
    return [*verbs, {"verb": "say", "text": VOICEMAIL_PROMPT}, {**listen, "maxLength": max_seconds}]
