"""jambonz's `listen` verb (docs.jambonz.org/verbs/verbs/listen; the older docs/webhooks/listen page).

- Our answer document (functions/webhook/answers.py) puts the call's token on the listen `url`:
  /ws/jambonz/<token>. jambonz connects with the subprotocol `audio.jambonz.org`.
- The first message is one JSON text frame: the call's attributes (callSid, from, to, ...), sampleRate, mixType,
  and the verb's `metadata`. The docs name the call id `callSid`; jambonz's webhooks say `call_sid`: both are read.
- Then binary frames of 16-bit PCM at sampleRate, little-endian (jambonz's pages do not say; FreeSWITCH's
  mod_audio_fork, which jambonz is built on, and third-party implementers have it so). mixType "stereo"
  interleaves two channels: the caller on the left, as far as jambonz's convention is known (README); "mono"
  and "mixed" are one channel.
- With passDtmf, key presses arrive as text frames {"event": "dtmf", "dtmf": "2", "duration": "1600"}.
- The end is the socket closing; there is no stop message.
"""

from __future__ import annotations

from typing import Any

from ..closing import CloseCode, ProtocolError
from ..events import Audio, CallStarted, Event, Ignored
from ._codecs import L16_LE, CodecTable, codec_for
from ._fields import KIND, VALUE, clip, json_object, key_press, whole_number
from ._placement import ByteClock

PROVIDER = "jambonz"
SUBPROTOCOL = "audio.jambonz.org"
CODECS: CodecTable = {("l16", rate): L16_LE for rate in (8000, 16000, 24000, 48000, 64000)}  # listen's sampleRate
TRACKS = {"stereo": ("caller", "callee"), "mono": ("caller",), "mixed": ("mix",)}
_EXTRA = ("direction", "accountSid", "applicationSid", "callId", "parentCallSid")


class JambonzAdapter:
    def __init__(self) -> None:
        self._call: CallStarted | None = None
        self._clock = ByteClock(2)  # jambonz's audio carries no clock; a 16-bit sample per channel

    def receive(self, message: str | bytes) -> list[Event]:
        if not isinstance(message, str):
            return self._audio(bytes(message))
        data = json_object(message, "jambonz")
        if self._call is None:
            return [self._handshake(data)]
        if data.get("event") == "dtmf":
            return key_press(data.get("dtmf"))
        return [Ignored(clip(data.get("event") or data.get("type") or "text", KIND))]

    def _handshake(self, data: dict[str, Any]) -> CallStarted:
        call_id = data.get("callSid") or data.get("call_sid")
        if not call_id:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "the first message has no callSid")
        if not isinstance(call_id, str):
            raise ProtocolError(CloseCode.INVALID_PAYLOAD, "callSid is not a string")
        rate = whole_number(data.get("sampleRate", 8000), "sampleRate")
        codec_for(CODECS, "l16", rate)
        mix = data.get("mixType", "mono")
        tracks = TRACKS.get(mix) if isinstance(mix, str) else None
        if tracks is None:
            raise ProtocolError(CloseCode.UNSUPPORTED_DATA, f"mixType {clip(mix, KIND)!r}")
        self._clock.width = 2 * len(tracks)
        self._call = CallStarted(
            provider=PROVIDER,
            call_id=call_id,
            sample_rate=rate,
            tracks=tracks,
            caller=clip(data.get("from", ""), VALUE),
            callee=clip(data.get("to", ""), VALUE),
            extra={key: clip(data[key], VALUE) for key in _EXTRA if isinstance(data.get(key), str)},
        )
        return self._call

    def _audio(self, data: bytes) -> list[Event]:
        if self._call is None:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "audio before the call's metadata")
        position, data = self._clock.take(data)
        if not data:
            return []
        if len(self._call.tracks) == 1:
            return [Audio(self._call.tracks[0], position, data)]
        samples = memoryview(data).cast("H")  # 2-byte units, copied as they are: no byte order involved
        return [Audio(track, position, samples[index::2].tobytes()) for index, track in enumerate(self._call.tracks)]
