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
from recorder.events import Audio, CallEnded, CallStarted, Dtmf, Ignored, TrackEnded
from recorder.protocols import Adapter
from recorder.protocols.twilio import TwilioAdapter
from recorder.protocols.vonage import VonageAdapter
from recorder.protocols.voxology import VoxologyAdapter
from recorder.timeline import Timeline

EVENTS = (Audio, CallStarted, CallEnded, Dtmf, Ignored, TrackEnded)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
payloads = st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()) | st.text(max_size=20)
numbers = st.integers(-5, 10**6) | st.integers(0, 10**6).map(str) | json_values

vonage_messages = st.fixed_dictionaries(
    {"event": st.sampled_from(["websocket:connected", "websocket:dtmf", "websocket:notify", "x"]) | json_values},
    optional={
        "content-type": st.sampled_from(["audio/l16;rate=8000", "audio/l16;rate=16000", "audio/l16;rate=48000"])
        | json_values,
        "uuid": st.text(max_size=40) | json_values,
        "digit": st.text(max_size=3) | json_values,
        "duration": numbers,
    },
)
twilio_messages = st.fixed_dictionaries(
    {"event": st.sampled_from(["connected", "start", "media", "stop", "dtmf", "mark"]) | json_values},
    optional={
        "start": st.fixed_dictionaries(
            {"callSid": st.text(max_size=10) | json_values},
            optional={
                "tracks": st.lists(st.sampled_from(["inbound", "outbound", "both"]), max_size=3) | json_values,
                "mediaFormat": st.fixed_dictionaries(
                    {
                        "encoding": st.sampled_from(["audio/x-mulaw", "audio/x-L16", "opus"]) | json_values,
                        "sampleRate": st.sampled_from([8000, 16000, 24000, "8000"]) | numbers,
                    }
                )
                | json_values,
                "customParameters": st.dictionaries(st.text(max_size=6), st.text(max_size=6)) | json_values,
            },
        )
        | json_values,
        "media": st.fixed_dictionaries(
            {
                "track": st.sampled_from(["inbound", "outbound", "other"]) | json_values,
                "timestamp": numbers,
                "payload": payloads,
            }
        )
        | json_values,
        "dtmf": st.fixed_dictionaries({"digit": st.text(max_size=3) | json_values}) | json_values,
    },
)
voxology_messages = st.fixed_dictionaries(
    {"type": st.sampled_from(["init_stream", "start_track", "live_track", "stop_track", "end_stream"]) | json_values},
    optional={
        "call_id": st.text(max_size=10) | json_values,
        "name": st.sampled_from(["caller", "transfer", "near"]) | json_values,
        "tracks": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["caller", "transfer"]) | json_values}), max_size=3
        )
        | json_values,
        "media_format": st.fixed_dictionaries(
            {
                "encoding": st.sampled_from(["ulaw", "opus"]) | json_values,
                "sample_rate": st.sampled_from([8000, 16000]) | numbers,
            }
        ),
        "track_sequence_number": numbers,
        "media": payloads,
        "stream_data": json_values,
        "error": json_values,
    },
)


def messages(structured: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[list[str | bytes]]:
    one: st.SearchStrategy[str | bytes] = st.one_of(
        st.binary(max_size=64), st.text(max_size=64), json_values.map(json.dumps), structured.map(json.dumps)
    )
    return st.lists(one, max_size=25)


def check(adapter: Adapter, sequence: list[str | bytes]) -> None:
    for message in sequence:
        try:
            events = adapter.receive(message)
        except ProtocolError as error:
            assert 1000 <= error.code < 5000 and error.reason
            return  # the socket loop closes here
        for event in events:
            assert isinstance(event, EVENTS)
            if isinstance(event, Audio):
                assert event.position >= 0 and len(event.pcm) % 2 == 0


ADAPTERS: list[tuple[Callable[[], Adapter], st.SearchStrategy[dict[str, Any]]]] = [
    (VonageAdapter, vonage_messages),
    (TwilioAdapter, twilio_messages),
    (VoxologyAdapter, voxology_messages),
]


@pytest.mark.parametrize(("factory", "structured"), ADAPTERS, ids=["vonage", "twilio", "voxology"])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_adapters_only_return_events_or_raise_protocol_error(
    factory: Callable[[], Adapter], structured: st.SearchStrategy[dict[str, Any]], data: st.DataObject
) -> None:
    check(factory(), data.draw(messages(structured)))


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
