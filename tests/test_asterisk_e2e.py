"""Asterisk chan_websocket end to end: the simulated Asterisk against the real recorder under gunicorn and the Cloud
Storage emulator. G.711 compared with independent decoders, signed linear bit-exact."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator

import pytest
from support.g711_reference import decode
from support.rawws import RawClient
from support.stack import Stack, run, running_stack, wait_for
from test_protocols_asterisk import alaw_decode
from websockets.exceptions import InvalidStatus

from callsim import asterisk
from callsim.asterisk import ControlFormat
from callsim.audio import Pcm, read_wav, sample, to_alaw, to_ulaw
from callsim.common import Encoding, StreamOptions
from devstack import GcsEmulator

USERNAME, PASSWORD = "pbx-tests", "a-password-for-the-pbx"


@pytest.fixture(scope="module")
def stack(gcs: GcsEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"ASTERISK_USERNAME": USERNAME, "ASTERISK_PASSWORD": PASSWORD}
    with running_stack(tmp_path_factory.mktemp("asterisk"), gcs, **env) as running:
        yield running


def place(
    stack: Stack,
    audio: Pcm,
    options: StreamOptions,
    control: ControlFormat = "plain-text",
    call_id: str | None = "1761245643.17",
    password: str = PASSWORD,
) -> asterisk.CallResult:
    return run(  # type: ignore[no-any-return]
        asterisk.call(
            f"{stack.recorder_url}/ws/asterisk",
            audio,
            options,
            username=USERNAME,
            password=password,
            control=control,
            call_id=call_id,
        )
    )


@pytest.mark.parametrize(
    ("control", "encoding"),
    [("plain-text", "mulaw"), ("json", "alaw")],
)
def test_g711_calls_with_either_media_start_and_dtmf(stack: Stack, control: ControlFormat, encoding: Encoding) -> None:
    audio = read_wav(sample(8000))
    call_id = f"1761245643.{len(control)}"
    options = StreamOptions(speed=0, encoding=encoding, dtmf=((0.5, "4"), (1.0, "#")))
    result = place(stack, audio, options, control, call_id)

    recording = stack.stored(call_id)
    assert (recording.channels, recording.sample_rate) == (1, 8000)
    if encoding == "mulaw":
        assert recording.pcm == decode(to_ulaw(audio.data))
    else:
        codes = to_alaw(audio.data)
        assert recording.pcm == struct.pack(f"<{len(codes)}h", *map(alaw_decode, codes))
    meta = recording.metadata
    assert (meta["provider"], meta["call_id"], meta["tracks"]) == ("asterisk", call_id, "mix")
    assert (meta["from"], meta["to"]) == ("+15550100001", "6001")
    assert [press["digit"] for press in json.loads(meta["dtmf"])] == result.dtmf == ["4", "#"]
    assert meta["end_reason"] == "connection closed"  # Asterisk's close is the hang-up


def test_slin16_is_bit_exact_and_the_channel_id_names_a_call_without_call_id(stack: Stack) -> None:
    audio = read_wav(sample(16000))
    result = place(stack, audio, StreamOptions(speed=0, encoding="l16"), "json", call_id=None)

    recording = stack.stored(result.call_id)  # the channel_id MEDIA_START gave
    assert (recording.channels, recording.sample_rate, recording.pcm) == (1, 16000, audio.data)
    assert recording.metadata["channel_id"] == result.call_id


def test_a_dropped_connection_keeps_everything_received(stack: Stack) -> None:
    audio = read_wav(sample(8000))
    place(stack, audio, StreamOptions(speed=0, encoding="l16", end="drop"), call_id="1761245643.99")

    recording = stack.stored("1761245643.99")
    assert recording.pcm == audio.data


def test_wrong_credentials_get_401_and_store_nothing(stack: Stack) -> None:
    with pytest.raises(InvalidStatus) as refused:
        place(stack, read_wav(sample(8000)), StreamOptions(speed=0), password="wrong", call_id="refused.1")

    assert refused.value.response.status_code == 401
    wait_for(lambda: any("Basic credentials are not" in e["message"] for e in stack.logs()), what="the refusal")
    assert stack.find("refused.1") is None


def test_the_path_takes_nothing_while_no_credentials_are_set(gcs_stack: Stack) -> None:
    with pytest.raises(InvalidStatus) as refused:
        place(gcs_stack, read_wav(sample(8000)), StreamOptions(speed=0), call_id="refused.2")

    assert refused.value.response.status_code == 401
    assert any("ASTERISK_USERNAME and ASTERISK_PASSWORD are not set" in e["message"] for e in gcs_stack.logs())


def test_a_hangup_cause_as_close_code_still_stores_the_call(stack: Stack) -> None:
    """chan_websocket closes with the channel's hangup cause (16, normal clearing) when it has one: not a code
    RFC 6455 lets a peer send, so the stream ends as a framing error, and its audio is stored all the same."""
    basic = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    client = RawClient(
        stack.recorder_port, "/ws/asterisk?call_id=1761245643.16", headers={"Authorization": f"Basic {basic}"}
    )
    assert client.status == 101
    ulaw = to_ulaw(read_wav(sample(8000)).data[: 2 * 8000])
    client.text(asterisk.media_start("plain-text", "1761245643.16", "ulaw", 160))
    for start in range(0, len(ulaw), 160):
        client.binary(ulaw[start : start + 160])
    client.send_frame(0x8, struct.pack("!H", 16))
    client.close()

    recording = stack.stored("1761245643.16")
    assert recording.pcm == decode(ulaw)
    assert recording.metadata["end_reason"].startswith("protocol error: close code 16")
