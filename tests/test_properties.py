"""Property-based: whatever arrives, adapters return events or raise the one ProtocolError, and the timeline
always produces whole, aligned frames up to the longest track."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.closing import ProtocolError
from recorder.events import Audio, CallEnded, CallStarted, Dtmf, Ignored, Reply, TrackEnded
from recorder.protocols import ADAPTERS as REGISTRY
from recorder.protocols import Adapter
from recorder.protocols.asterisk import AsteriskAdapter
from recorder.protocols.audiohook import AudioHookAdapter
from recorder.protocols.jambonz import JambonzAdapter
from recorder.protocols.plivo import PlivoAdapter
from recorder.protocols.telnyx import TelnyxAdapter
from recorder.protocols.twilio import TwilioAdapter
from recorder.protocols.vonage import VonageAdapter
from recorder.protocols.voxology import VoxologyAdapter
from recorder.timeline import Timeline

EVENTS = (Audio, CallStarted, CallEnded, Dtmf, Ignored, TrackEnded, Reply)

# Floats include inf and nan, which json.dumps writes as Infinity and NaN (not JSON, but Python reads them).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
# Structured messages always name a real kind (a wrong kind is in `one` below); their fields are valid or
# typed but wrong: a value of each JSON type, where a field expects one of them (defects.md #14 found
# mediaFormat:"x", tracks:5, timestamp:Infinity and media_format:[...]).
wrong_types = st.sampled_from(
    [None, True, 0, -1, 5, 10**30, 1.5, float("inf"), float("nan"), "", "x", "-3", "1e9", "\u00b2", "\uff18"]
    + [[], [1], ["x"], {}, {"a": 1}]
)
values = json_values | wrong_types
payloads = st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()) | st.text(max_size=20) | wrong_types
numbers = st.integers(-5, 10**6) | st.integers(0, 10**6).map(str) | values

vonage_messages = st.fixed_dictionaries(
    {"event": st.sampled_from(["websocket:connected", "websocket:dtmf", "websocket:notify", "x"])},
    optional={
        "content-type": st.sampled_from(["audio/l16;rate=8000", "audio/l16;rate=16000", "audio/l16;rate=48000"])
        | st.sampled_from(["audio/l16;rate=\u00b2", "audio/l16;rate=8000 "])
        | values,
        "uuid": st.text(max_size=40) | values,
        "digit": st.text(max_size=3) | values,
        "duration": numbers,
    },
)
twilio_messages = st.fixed_dictionaries(
    {"event": st.sampled_from(["connected", "start", "media", "stop", "dtmf", "mark"])},
    optional={
        "start": st.fixed_dictionaries(
            {"callSid": st.text(max_size=10) | values},
            optional={
                "tracks": st.lists(st.sampled_from(["inbound", "outbound", "both"]), max_size=3) | values,
                "mediaFormat": st.fixed_dictionaries(
                    {
                        "encoding": st.sampled_from(["audio/x-mulaw", "audio/x-L16", "opus"]) | values,
                        "sampleRate": st.sampled_from([8000, 16000, 24000, "8000"]) | numbers,
                    }
                )
                | values,
                "customParameters": st.dictionaries(st.text(max_size=6), st.text(max_size=6)) | values,
            },
        )
        | values,
        "media": st.fixed_dictionaries(
            {
                "track": st.sampled_from(["inbound", "outbound", "other"]) | values,
                "timestamp": numbers,
                "payload": payloads,
            }
        )
        | values,
        "dtmf": st.fixed_dictionaries({"digit": st.text(max_size=3) | values}) | values,
    },
)
voxology_messages = st.fixed_dictionaries(
    {"type": st.sampled_from(["init_stream", "start_track", "live_track", "stop_track", "end_stream"])},
    optional={
        "call_id": st.text(max_size=10) | values,
        "name": st.sampled_from(["caller", "transfer", "near"]) | values,
        "tracks": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["caller", "transfer"]) | values}), max_size=3
        )
        | values,
        "media_format": st.fixed_dictionaries(
            {
                "encoding": st.sampled_from(["ulaw", "opus"]) | values,
                "sample_rate": st.sampled_from([8000, 16000]) | numbers,
            }
        )
        | values,
        "track_sequence_number": numbers,
        "media": payloads,
        "stream_data": json_values,
        "error": json_values,
    },
)


media_fields = st.fixed_dictionaries(
    {
        "track": st.sampled_from(["inbound", "outbound", "other"]) | values,
        "chunk": numbers,
        "timestamp": numbers,
        "payload": payloads,
    }
)
telnyx_messages = st.fixed_dictionaries(
    {"event": st.sampled_from(["connected", "start", "media", "stop", "dtmf", "mark", "error"])},
    optional={
        "start": st.fixed_dictionaries(
            {"call_control_id": st.text(max_size=10) | values},
            optional={
                "media_format": st.fixed_dictionaries(
                    {
                        "encoding": st.sampled_from(["PCMU", "PCMA", "audio/x-mulaw", "G722", "OPUS"]) | values,
                        "sample_rate": st.sampled_from([8000, 16000]) | numbers,
                    }
                )
                | values,
                "from": values,
            },
        )
        | values,
        "media": media_fields | values,
        "dtmf": st.fixed_dictionaries({"digit": st.text(max_size=3) | values}) | values,
        "payload": values,
    },
)
plivo_messages = st.fixed_dictionaries(
    {"event": st.sampled_from(["start", "media", "dtmf", "playedStream", "stop"])},
    optional={
        "start": st.fixed_dictionaries(
            {"callId": st.text(max_size=10) | values},
            optional={
                "tracks": st.lists(st.sampled_from(["inbound", "outbound"]), max_size=3) | values,
                "mediaFormat": st.fixed_dictionaries(
                    {
                        "encoding": st.sampled_from(["audio/x-mulaw", "audio/x-l16"]) | values,
                        "sampleRate": st.sampled_from([8000, 16000]) | numbers,
                    }
                )
                | values,
            },
        )
        | values,
        "media": media_fields | values,
        "dtmf": st.fixed_dictionaries({"digit": st.text(max_size=3) | values}) | values,
        "extra_headers": st.text(max_size=30) | values,
    },
)

# Nesting past the JSON parser's recursion limit (defects.md #14: 4 KiB of "[" raised RecursionError).
deep = st.integers(1, 20_000).map(lambda depth: "[" * depth) | st.integers(1, 20_000).map(
    lambda depth: '{"event": ' + "[" * depth
)


def paths(message: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path in a JSON object, nested ones included."""
    if not isinstance(message, dict):
        return []
    found = []
    for key, value in message.items():
        found.append((*prefix, key))
        found += paths(value, (*prefix, key))
    return found


def replaced(message: dict[str, Any], path: tuple[str, ...], value: object) -> dict[str, Any]:
    copy = json.loads(json.dumps(message))
    holder = copy
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    return copy


def mutants(golden: list[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid message with one field, at any depth, replaced by a typed-but-wrong value: every other field
    being right, the wrong one is what the adapter meets."""
    return st.sampled_from(golden).flatmap(
        lambda message: st.tuples(st.sampled_from(paths(message)), values).map(
            lambda change: replaced(message, *change)
        )
    )


def messages(
    structured: st.SearchStrategy[dict[str, Any]], golden: list[dict[str, Any]]
) -> st.SearchStrategy[list[str | bytes]]:
    """Sequences of valid, mutated and structured messages, and anything at all."""
    one: st.SearchStrategy[str | bytes] = st.one_of(
        st.binary(max_size=64), st.text(max_size=64), json_values.map(json.dumps), deep, structured.map(json.dumps)
    )
    shaped = st.sampled_from(golden) | mutants(golden) | structured
    return st.lists(shaped.map(json.dumps) | one, max_size=25)


def check(factory: Callable[[], Adapter], handshake: list[str], sequence: list[str | bytes]) -> None:
    """Each message gets events or one ProtocolError. Then, where the socket loop would close, a fresh adapter
    takes the rest of the sequence, past a valid `handshake` (if any), so that typed-but-wrong fields reach
    every step, not only the first message's."""

    def fresh() -> Adapter:
        adapter = factory()
        for message in handshake:
            adapter.receive(message)
        return adapter

    adapter = fresh()
    for message in sequence:
        try:
            events = adapter.receive(message)
        except ProtocolError as error:
            assert 1000 <= error.code < 5000 and error.reason
            adapter = fresh()
            continue
        for event in events:
            assert isinstance(event, EVENTS)
            if isinstance(event, Audio):
                assert event.position >= 0 and len(event.pcm) % 2 == 0


MULAW_FORMAT = {"encoding": "audio/x-mulaw", "sampleRate": 8000}
HANDSHAKES: dict[str, list[dict[str, Any]]] = {
    "vonage": [{"event": "websocket:connected", "content-type": "audio/l16;rate=16000", "uuid": "u"}],
    "twilio": [{"event": "start", "start": {"callSid": "CA1", "tracks": ["inbound"], "mediaFormat": MULAW_FORMAT}}],
    "voxology": [
        {"type": "init_stream", "call_id": "1@2", "tracks": [{"name": "caller"}]},
        {
            "type": "start_track",
            "name": "caller",
            "track_sequence_number": 1,
            "media_format": {"encoding": "ulaw", "sample_rate": 8000},
        },
    ],
}
PAYLOAD = base64.b64encode(bytes(range(0, 256, 16)) * 10).decode()
GOLDEN: dict[str, list[dict[str, Any]]] = {
    "vonage": [*HANDSHAKES["vonage"], {"event": "websocket:dtmf", "digit": "1", "duration": 260}],
    "twilio": [
        {
            "event": "start",
            "start": {
                "callSid": "CA1",
                "streamSid": "MZ1",
                "tracks": ["inbound", "outbound"],
                "customParameters": {"token": "T", "from": "+1", "to": "+2"},
                "mediaFormat": {**MULAW_FORMAT, "channels": 1},
            },
        },
        {"event": "media", "media": {"track": "inbound", "chunk": "2", "timestamp": "40", "payload": PAYLOAD}},
        {"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": "1"}},
        {"event": "stop", "stop": {"callSid": "CA1"}},
    ],
    "voxology": [
        {**HANDSHAKES["voxology"][0], "stream_data": {"token": "T"}, "stream_id": 1},
        HANDSHAKES["voxology"][1],
        {"type": "live_track", "name": "caller", "track_sequence_number": 3, "media": PAYLOAD},
        {"type": "stop_track", "name": "caller", "track_sequence_number": 4},
        {"type": "end_stream", "error": "lost"},
    ],
}
TELNYX_START = {
    "event": "start",
    "start": {
        "call_control_id": "v3:1",
        "from": "+1",
        "to": "+2",
        "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
    },
    "stream_id": "S",
}
PLIVO_START = {
    "event": "start",
    "start": {
        "callId": "c1",
        "streamId": "S",
        "tracks": ["inbound", "outbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
    },
    "extra_headers": "from=1;to=2",
}
HANDSHAKES["telnyx"] = [TELNYX_START]
HANDSHAKES["plivo"] = [PLIVO_START]
GOLDEN["telnyx"] = [
    TELNYX_START,
    {"event": "media", "media": {"track": "inbound", "chunk": "2", "timestamp": "20", "payload": PAYLOAD}},
    {"event": "dtmf", "dtmf": {"digit": "1"}},
    {"event": "error", "payload": {"code": 100003, "title": "malformed_frame"}},
    {"event": "stop", "stop": {"call_control_id": "v3:1"}},
]
GOLDEN["plivo"] = [
    PLIVO_START,
    {"event": "media", "media": {"track": "outbound", "chunk": 3, "timestamp": "1705312200060", "payload": PAYLOAD}},
    {"event": "dtmf", "dtmf": {"digit": "1"}},
]
# Genesys AudioHook, Asterisk, jambonz (tests/test_protocols_{audiohook,asterisk,jambonz}.py have their goldens).
durations = st.sampled_from(["PT0S", "PT1.5S", "PT999999999.999999999S", "P1D", "PT-1S"]) | values
audiohook_messages = st.fixed_dictionaries(
    {
        "version": st.just("2") | values,
        "id": st.just("s-1") | values,
        "type": st.sampled_from(["open", "ping", "update", "paused", "resumed", "discarded", "close", "error"]),
        "seq": st.integers(0, 6) | values,
    },
    optional={
        "serverseq": st.integers(0, 3) | values,
        "position": durations,
        "parameters": st.fixed_dictionaries(
            {},
            optional={
                "conversationId": st.sampled_from(["c-1", "00000000-0000-0000-0000-000000000000"]) | values,
                "participant": st.fixed_dictionaries({}, optional={"ani": values, "dnis": values}) | values,
                "media": st.lists(
                    st.fixed_dictionaries(
                        {
                            "type": st.just("audio") | values,
                            "format": st.sampled_from(["PCMU", "L16"]) | values,
                            "channels": st.lists(st.sampled_from(["external", "internal", "x"]), max_size=3) | values,
                            "rate": st.just(8000) | values,
                        }
                    ),
                    max_size=3,
                )
                | values,
                "start": durations,
                "discarded": durations,
                "reason": values,
            },
        )
        | values,
    },
)
asterisk_messages = st.fixed_dictionaries(
    {"event": st.sampled_from(["MEDIA_START", "DTMF_END", "MEDIA_XOFF", "STATUS"])},
    optional={
        "format": st.sampled_from(["ulaw", "alaw", "slin", "slin16", "opus"]) | values,
        "channel_id": values,
        "connection_id": values,
        "channel_variables": st.dictionaries(st.sampled_from(["from", "to"]), values) | values,
        "digit": values,
    },
)
jambonz_messages = st.fixed_dictionaries(
    {},
    optional={
        "callSid": st.text(max_size=8) | values,
        "call_sid": values,
        "sampleRate": st.sampled_from([8000, 16000, 11025, "8000"]) | numbers,
        "mixType": st.sampled_from(["stereo", "mono", "mixed", "quad"]) | values,
        "event": st.just("dtmf") | values,
        "dtmf": values,
        "from": values,
    },
)
AUDIOHOOK_OPEN = {
    "version": "2",
    "id": "s-1",
    "type": "open",
    "seq": 1,
    "serverseq": 0,
    "position": "PT0S",
    "parameters": {
        "conversationId": "c-1",
        "participant": {"ani": "+1", "dnis": "+2"},
        "media": [{"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000}],
    },
}
ASTERISK_START = {"event": "MEDIA_START", "channel_id": "1.1", "format": "ulaw", "channel_variables": {}}
JAMBONZ_START = {"callSid": "c-1", "sampleRate": 8000, "mixType": "stereo", "from": "+1", "to": "+2"}
HANDSHAKES.update(audiohook=[AUDIOHOOK_OPEN], asterisk=[ASTERISK_START], jambonz=[JAMBONZ_START])
GOLDEN["audiohook"] = [
    AUDIOHOOK_OPEN,
    {**AUDIOHOOK_OPEN, "type": "ping", "seq": 2, "parameters": {"rtt": "PT0.05S"}},
    {**AUDIOHOOK_OPEN, "type": "discarded", "seq": 3, "parameters": {"start": "PT1S", "discarded": "PT2S"}},
    {**AUDIOHOOK_OPEN, "type": "close", "seq": 4, "parameters": {"reason": "end"}},
]
GOLDEN["asterisk"] = [ASTERISK_START, {"event": "DTMF_END", "digit": "5", "channel_id": "1.1"}]
GOLDEN["jambonz"] = [JAMBONZ_START, {"event": "dtmf", "dtmf": "2", "duration": "1600"}]
ADAPTERS: dict[str, tuple[Callable[[], Adapter], st.SearchStrategy[dict[str, Any]]]] = {
    "vonage": (VonageAdapter, vonage_messages),
    "twilio": (TwilioAdapter, twilio_messages),
    "voxology": (VoxologyAdapter, voxology_messages),
    "telnyx": (TelnyxAdapter, telnyx_messages),
    "plivo": (PlivoAdapter, plivo_messages),
    "audiohook": (AudioHookAdapter, audiohook_messages),
    "asterisk": (lambda: AsteriskAdapter({"call_id": "c-1"}), asterisk_messages),
    "jambonz": (JambonzAdapter, jambonz_messages),
}


def test_every_adapter_is_checked() -> None:
    assert set(ADAPTERS) == set(HANDSHAKES) == set(GOLDEN) == set(REGISTRY)


@pytest.mark.parametrize("provider", ADAPTERS)
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_adapters_only_return_events_or_raise_protocol_error(provider: str, data: st.DataObject) -> None:
    factory, structured = ADAPTERS[provider]
    handshake = data.draw(st.sampled_from([[], [json.dumps(message) for message in HANDSHAKES[provider]]]))
    check(factory, handshake, data.draw(messages(structured, GOLDEN[provider])))


chunks = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3000), st.integers(1, 80)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(tracks=st.integers(1, 3), received=chunks, window_ms=st.integers(0, 300))
def test_the_timeline_writes_whole_aligned_frames_up_to_the_longest_track(
    tracks: int, received: list[tuple[int, int, int]], window_ms: int
) -> None:
    names = tuple(f"t{n}" for n in range(tracks))
    timeline = Timeline(names, 1000, window_ms)
    out = b""
    ends = [0] * tracks
    for track, position, samples in received:
        track %= tracks
        out += timeline.add(names[track], position, b"\x01\x00" * samples)
        ends[track] = max(ends[track], position + samples)
    out += timeline.finish()
    assert len(out) % (2 * tracks) == 0
    if timeline.stats.discontinuities:  # a restarted clock re-anchors a track after its end: the file is longer
        assert len(out) >= max(ends) * 2 * tracks
    else:
        assert len(out) == max(ends) * 2 * tracks


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(1, 50), min_size=1, max_size=40))
def test_in_order_audio_comes_out_unchanged(sizes: list[int]) -> None:
    timeline = Timeline(("a",), 8000, 200)
    out, position, sent = b"", 0, b""
    for n, size in enumerate(sizes):
        pcm = bytes([n % 256, 0]) * size
        out += timeline.add("a", position, pcm)
        position += size
        sent += pcm
    assert out + timeline.finish() == sent
