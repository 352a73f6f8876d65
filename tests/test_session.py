"""The session takes what one read brought in as one batch: in order, written in one go, and never at the cost
of the audio that came before a bad message or after the provider's end."""

from __future__ import annotations

import array
import io
import json
import wave
from pathlib import Path

import pytest
from test_protocols_twilio import ULAW, twilio_media, twilio_start

from recorder.closing import ProtocolError
from recorder.protocols import ADAPTERS, Adapter
from recorder.protocols.jambonz import JambonzAdapter
from recorder.protocols.twilio import TwilioAdapter
from recorder.protocols.vonage import VonageAdapter
from recorder.session import CallSession
from recorder.settings import Settings
from recorder.store import LocalStore
from webhook.tokens import issue_token

SECRET = "s" * 32


def session(tmp_path: Path, adapter: Adapter, call_id: str) -> CallSession:
    config = Settings(secret=SECRET, spool_dir=str(tmp_path / "spool"))
    (tmp_path / "spool").mkdir(parents=True, exist_ok=True)
    provider = next(name for name, factory in ADAPTERS.items() if isinstance(adapter, factory))  # type: ignore[arg-type]
    token = issue_token(SECRET, call_id, provider)
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


def test_a_batchs_binary_messages_are_one_stream_and_its_text_keeps_its_place(tmp_path: Path) -> None:
    # The session joins a run of binary messages before the adapter sees it: odd sizes, split anywhere, record
    # the same bytes as one message at a time, and a DTMF between two runs is placed where it came.
    pcm = bytes(range(256)) * 10
    connected = json.dumps({"event": "websocket:connected", "content-type": "audio/l16;rate=16000", "uuid": "b"})
    dtmf = json.dumps({"event": "websocket:dtmf", "digit": "5", "duration": 100})
    messages: list[str | bytes] = [pcm[:641], pcm[641:1280], dtmf, pcm[1280:1281], pcm[1281:]]
    results = []
    for name, batches in (("joined", [messages]), ("alone", [[message] for message in messages])):
        vonage = session(tmp_path / name, VonageAdapter(), "b")
        vonage.receive([connected])
        for batch in batches:
            vonage.receive(batch)
        location = vonage.finish("connection closed")
        assert location is not None
        metadata = json.loads(Path(location.removesuffix(".wav") + ".json").read_text())
        results.append((stored_pcm(location), metadata["dtmf"]))
        vonage.clean_up()
    assert results[0] == results[1] == (pcm, [{"digit": "5", "at_ms": 40}])


def test_a_stereo_message_longer_than_the_reorder_window_keeps_both_channels(tmp_path: Path) -> None:
    # jambonz (and AudioHook) send both channels of a moment in one message, of a size nobody documents. Placing
    # the left channel's 2 s first filled the right channel's place with silence (a second of its audio lost).
    call_id = "b3a6a0f4-0e6d-4b2e-9d1f-3c5e9f0a1b2c"
    metadata = {"callSid": call_id, "from": "+15550100001", "to": "+15550100002", "sampleRate": 8000}
    stereo = array.array("h", [1, 2] * 16000).tobytes()  # 2 s at 8 kHz: caller 1, callee 2
    jambonz = session(tmp_path, JambonzAdapter(), call_id)
    jambonz.receive([json.dumps({**metadata, "mixType": "stereo"})])
    jambonz.receive([stereo])
    recorded = stored_pcm(jambonz.finish("connection closed"))
    jambonz.clean_up()
    assert recorded == stereo


def test_the_stored_line_says_how_long_storing_took(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # `make bench` adds these up into the floor a burst of stores puts under the hang-up's median.
    vonage = session(tmp_path, VonageAdapter(), "timed")
    connected = {"event": "websocket:connected", "content-type": "audio/l16;rate=16000", "uuid": "timed"}
    vonage.receive([json.dumps(connected), bytes(640)])
    with caplog.at_level("INFO", logger="recorder.session"):
        assert vonage.finish("connection closed") is not None
    vonage.clean_up()
    [stored] = [record for record in caplog.records if record.getMessage() == "recording stored"]
    assert 0 < stored.store_ms < 10_000  # type: ignore[attr-defined]
