"""Asterisk chan_websocket: golden control messages (docs.asterisk.org's plain-text MEDIA_START; chan_websocket.c's
JSON one), the four media formats, DTMF_END, the call id, and HTTP Basic on the upgrade."""

from __future__ import annotations

import base64
import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.g711_reference import decode
from test_properties import check, json_values

from recorder.closing import ProtocolError
from recorder.events import Audio, CallStarted, Dtmf, Ignored
from recorder.protocols import ADAPTERS, QUERY_ADAPTERS, UPGRADE_CHECKS
from recorder.protocols.asterisk import AsteriskAdapter, check_upgrade
from recorder.settings import Settings
from recorder.worker import UPGRADES

# The documentation's example, plus the channel_id and ptime the current source adds.
PLAIN = (
    "MEDIA_START connection_id:e226e283-c90a-4ea9-9e37-389000b9ef47 channel:WebSocket/connectionid "
    "format:ulaw optimal_frame_size:160 channel_id:1761245643.1 ptime:20"
)
JSON_START = {
    "event": "MEDIA_START",
    "connection_id": "e226e283-c90a-4ea9-9e37-389000b9ef47",
    "channel": "WebSocket/connectionid",
    "channel_id": "1761245643.1",
    "format": "slin16",
    "optimal_frame_size": 640,
    "ptime": 20,
    "channel_variables": {"from": "+15550100001", "to": "6001"},
}


def alaw_decode(code: int) -> int:
    """ITU-T G.711 A-law, written out from the standard (independent of audioop)."""
    code ^= 0x55
    exponent, mantissa = (code >> 4) & 0x07, code & 0x0F
    magnitude = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    return magnitude if code & 0x80 else -magnitude


def test_plain_text_media_start_and_ulaw() -> None:
    adapter = AsteriskAdapter()
    assert adapter.receive(PLAIN) == [
        CallStarted(
            provider="asterisk",
            call_id="1761245643.1",
            sample_rate=8000,
            tracks=("mix",),
            extra={
                "channel": "WebSocket/connectionid",
                "channel_id": "1761245643.1",
                "connection_id": "e226e283-c90a-4ea9-9e37-389000b9ef47",
                "format": "ulaw",
            },
            admitted_at_upgrade=True,
        )
    ]
    ulaw = bytes(range(256))
    assert adapter.receive(ulaw[:160]) == [Audio("mix", 0, decode(ulaw[:160]))]
    assert adapter.receive(ulaw[160:]) == [Audio("mix", 160, decode(ulaw[160:]))]


def test_json_media_start_slin16_and_the_call_id_from_the_query() -> None:
    adapter = AsteriskAdapter({"call_id": "1761245643.0"})
    [started] = adapter.receive(json.dumps(JSON_START))
    assert isinstance(started, CallStarted)
    assert (started.call_id, started.sample_rate, started.caller, started.callee) == (
        "1761245643.0",
        16000,
        "+15550100001",
        "6001",
    )
    pcm = struct.pack("<4h", 1, -2, 300, -32768)
    assert adapter.receive(pcm[:3]) == [Audio("mix", 0, pcm[:2])]  # an odd byte waits for its other half
    assert adapter.receive(pcm[3:]) == [Audio("mix", 1, pcm[2:])]


def test_alaw_and_slin_formats() -> None:
    alaw = AsteriskAdapter()
    alaw.receive(PLAIN.replace("format:ulaw", "format:alaw"))
    codes = bytes(range(256))
    [audio] = alaw.receive(codes)
    assert isinstance(audio, Audio) and audio.pcm == struct.pack("<256h", *map(alaw_decode, codes))
    slin = AsteriskAdapter()
    [started] = slin.receive(PLAIN.replace("format:ulaw", "format:slin"))
    assert isinstance(started, CallStarted) and started.sample_rate == 8000


def test_dtmf_end_both_forms_and_other_notifications() -> None:
    adapter = AsteriskAdapter()
    adapter.receive(PLAIN)
    assert adapter.receive("DTMF_END digit:5 channel_id:1761245643.1") == [Dtmf("5")]
    assert adapter.receive(json.dumps({"event": "DTMF_END", "channel_id": "x", "digit": "#"})) == [Dtmf("#")]
    assert adapter.receive("DTMF_END channel_id:x") == [Ignored("DTMF_END without a digit")]
    assert adapter.receive("MEDIA_XOFF") == [Ignored("MEDIA_XOFF")]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (b"\xff" * 160, 1002),  # audio before MEDIA_START
        ("STATUS queue_length:0", 1002),
        (PLAIN.replace("format:ulaw", "format:opus"), 1003),
        ("MEDIA_START format:ulaw", 1002),  # no channel_id or connection_id, and no call_id parameter
        ('{"event": "MEDIA_START", "format": "ulaw", "channel_id": "1", "channel_variables": []}', 1007),
    ],
)
def test_bad_streams_are_refused(message: str | bytes, code: int) -> None:
    with pytest.raises(ProtocolError) as raised:
        AsteriskAdapter().receive(message)
    assert raised.value.code == code


def basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_credentials_on_the_upgrade() -> None:
    configured = Settings(secret="s" * 32, asterisk_username="pbx", asterisk_password="p4ss:word")
    assert check_upgrade(basic("pbx", "p4ss:word"), "/ws/asterisk", configured) is None
    assert "not the configured" in str(check_upgrade(basic("pbx", "wrong"), "/ws/asterisk", configured))
    assert "not the configured" in str(check_upgrade(basic("other", "p4ss:word"), "/ws/asterisk", configured))
    assert "no HTTP Basic" in str(check_upgrade({}, "/ws/asterisk", configured))
    assert "not base64" in str(check_upgrade({"authorization": "Basic !!!"}, "/ws/asterisk", configured))
    assert "not set" in str(check_upgrade(basic("", ""), "/ws/asterisk", Settings(secret="s" * 32)))


words = st.sampled_from(["MEDIA_START", "DTMF_END", "MEDIA_XOFF", "format:ulaw", "format:slin16", "format:", "digit:5"])
texts = st.lists(words | st.text(max_size=12), max_size=6).map(" ".join)
starts = st.fixed_dictionaries(
    {"event": st.sampled_from(["MEDIA_START", "DTMF_END"]) | json_values},
    optional={
        "format": st.sampled_from(["ulaw", "alaw", "slin", "slin16", "opus"]) | json_values,
        "channel_id": json_values,
        "channel_variables": json_values,
        "digit": json_values,
    },
).map(json.dumps)


@settings(max_examples=300, deadline=None)
@given(
    sequence=st.lists(texts | starts | st.binary(max_size=64), max_size=20),
    query=st.dictionaries(st.sampled_from(["call_id", "from", "to"]), st.text(max_size=8)),
)
def test_whatever_arrives_the_adapter_returns_events_or_raises_protocol_error(
    sequence: list[str | bytes], query: dict[str, str]
) -> None:
    check(lambda: AsteriskAdapter(query), [PLAIN], sequence)


def test_the_token_free_paths_check_credentials_and_jambonz_gets_its_subprotocol() -> None:
    assert set(QUERY_ADAPTERS) <= set(ADAPTERS) and set(UPGRADES) <= set(ADAPTERS)  # others: 404 before the 101
    assert set(UPGRADE_CHECKS) == {"audiohook", "asterisk"}
    assert all(UPGRADES[provider].check is not None for provider in UPGRADE_CHECKS)
    assert UPGRADES["jambonz"].subprotocols == ("audio.jambonz.org",)
