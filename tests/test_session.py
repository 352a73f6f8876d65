"""The session takes what one read brought in as one batch: in order, written in one go, and never at the cost
of the audio that came before a bad message or after the provider's end."""

from __future__ import annotations

import io
import json
import wave
from pathlib import Path

import pytest
from test_protocols_twilio import ULAW, twilio_media, twilio_start

from recorder.closing import ProtocolError
from recorder.protocols.twilio import TwilioAdapter
from recorder.protocols.vonage import VonageAdapter
from recorder.session import CallSession
from recorder.settings import Settings
from recorder.store import LocalStore
from webhook.tokens import issue_token

SECRET = "s" * 32


def session(tmp_path: Path, adapter: VonageAdapter | TwilioAdapter, call_id: str) -> CallSession:
    config = Settings(secret=SECRET, spool_dir=str(tmp_path / "spool"))
    (tmp_path / "spool").mkdir(exist_ok=True)
    token = issue_token(SECRET, call_id, "vonage" if isinstance(adapter, VonageAdapter) else "twilio")
    return CallSession(adapter, config, LocalStore(str(tmp_path / "store")), token, spool_dir=tmp_path / "spool")


def stored_pcm(location: str | None) -> bytes:
    assert location is not None
    with wave.open(io.BytesIO(Path(location).read_bytes())) as wav:
        return wav.readframes(wav.getnframes())


def test_a_bad_message_in_a_batch_costs_none_of_the_audio_before_it(tmp_path: Path) -> None:
    vonage = session(tmp_path, VonageAdapter(), "batch-1")
    vonage.receive(
        [json.dumps({"event": "websocket:connected", "content-type": "audio/l16;rate=16000", "uuid": "batch-1"})]
    )
    first, second = bytes(range(256)) * 2 + bytes(128), bytes(640)
    with pytest.raises(ProtocolError):
        vonage.receive([first, second, "not JSON", bytes(640)])
    assert stored_pcm(vonage.finish("protocol error")) == first + second
    vonage.clean_up()


def test_nothing_after_the_providers_end_of_the_call_is_taken(tmp_path: Path) -> None:
    twilio = session(tmp_path, TwilioAdapter(), "CA0123")
    token = issue_token(SECRET, "CA0123", "twilio")
    start = twilio_start(tracks=["inbound"], customParameters={"token": token})
    stop = '{"event":"stop","sequenceNumber":"5","stop":{"callSid":"CA0123"}}'
    twilio.receive([start, twilio_media("inbound", "0"), stop, twilio_media("inbound", "20")])
    assert twilio.ended_by_provider
    recorded = stored_pcm(twilio.finish("ended by provider"))
    twilio.clean_up()
    assert len(recorded) == 2 * len(ULAW)  # one 20 ms chunk of mu-law, as 16-bit PCM: not the one after "stop"
