"""The Voxology adapter with golden messages: the Media Stream guide's example sequence, kept verbatim."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from support.g711_reference import decode

from recorder.closing import ProtocolError
from recorder.events import Audio, CallEnded, CallStarted, TrackEnded
from recorder.protocols.voxology import VoxologyAdapter

SEED = json.loads((Path(__file__).parent / "data" / "voxology_seed_sequence.json").read_text())
ULAW = bytes(range(0, 256, 16)) * 10  # 160 bytes: 20 ms at 8 kHz


def seed_message(n: int) -> str:
    message = dict(SEED[n])
    if "media" in message:  # the guide elides each payload with "...": keep its whole base64 quads
        media = message["media"].removesuffix("...")
        message["media"] = media[: len(media) // 4 * 4]
    return json.dumps(message)


def test_voxology_seed_sequence() -> None:
    adapter = VoxologyAdapter()
    events = [event for n in range(8) for event in adapter.receive(seed_message(n))]
    caller_media = base64.b64decode(json.loads(seed_message(3))["media"])
    transfer_media = base64.b64decode(json.loads(seed_message(4))["media"])
    assert events == [
        CallStarted(
            provider="voxology",
            call_id="326065@3423993407",
            sample_rate=8000,
            tracks=("caller", "transfer"),
            extra={"stream_id": "117179172", "direction": "outbound", "stream_name": "stream1"},
        ),
        # Each track starts at its start_track (number 1): the seed's chunk 26 follows 24 the guide elides.
        Audio("caller", 24 * len(caller_media), decode(caller_media)),
        Audio("transfer", 24 * len(transfer_media), decode(transfer_media)),
        TrackEnded("caller"),
        TrackEnded("transfer"),
        CallEnded("end_stream"),
    ]


def test_voxology_places_chunks_by_track_sequence_number() -> None:
    adapter = VoxologyAdapter()
    for n in range(3):
        adapter.receive(seed_message(n))
    live = {
        "type": "live_track",
        "call_id": "326065@3423993407",
        "name": "caller",
        "media": base64.b64encode(ULAW).decode(),
    }
    positions = [
        adapter.receive(json.dumps({**live, "track_sequence_number": sequence}))[0] for sequence in (2, 3, 5, 4)
    ]
    assert [event.position for event in positions if isinstance(event, Audio)] == [0, 160, 480, 320]


def test_voxology_token_and_a_late_track() -> None:
    adapter = VoxologyAdapter()
    init = {**SEED[0], "stream_data": {"token": "T", "from": "+1714", "to": "+1949"}}
    [started] = adapter.receive(json.dumps(init))
    assert isinstance(started, CallStarted) and (started.token, started.caller) == ("T", "+1714")
    adapter.receive(seed_message(1))
    live = {"type": "live_track", "media": base64.b64encode(ULAW).decode()}
    for sequence in range(2, 12):  # 200 ms of the caller alone
        adapter.receive(json.dumps({**live, "name": "caller", "track_sequence_number": sequence}))
    adapter.receive(seed_message(2))  # the transfer leg joins now
    [joined] = adapter.receive(json.dumps({**live, "name": "transfer", "track_sequence_number": 2}))
    assert isinstance(joined, Audio) and joined.position == 1600


@pytest.mark.parametrize(
    ("messages", "code", "says"),
    [
        ([SEED[1]], 1002, "not init_stream"),
        ([{**SEED[0], "call_id": None}], 1002, "call_id"),
        ([SEED[0], {**SEED[1], "media_format": {"encoding": "opus", "sample_rate": 48000}}], 1003, "opus"),
        ([SEED[0], {**SEED[1], "media_format": {"encoding": "ulaw", "sample_rate": 16000}}], 1003, "16000"),
        (
            [SEED[0], {"type": "live_track", "name": "caller", "track_sequence_number": 2, "media": ""}],
            1002,
            "before start_track",
        ),
        (
            [SEED[0], SEED[1], {"type": "live_track", "name": "caller", "track_sequence_number": 2, "media": "@@"}],
            1007,
            "base64",
        ),
    ],
)
def test_voxology_bad_input(messages: list[dict[str, Any]], code: int, says: str) -> None:
    adapter = VoxologyAdapter()
    with pytest.raises(ProtocolError) as raised:
        for message in messages:
            adapter.receive(json.dumps(message))
    assert raised.value.code == code and says in raised.value.reason


@pytest.mark.parametrize(
    ("messages", "code", "says"),
    [
        ([json.dumps(SEED[0]), json.dumps({**SEED[1], "media_format": ["ulaw"]})], 1007, "object"),
        ([json.dumps({**SEED[0], "tracks": "caller"})], 1007, "tracks is not a list"),
        (['{"type": ' + "[" * 4096], 1007, "not valid JSON"),
    ],
)
def test_typed_but_wrong_values_are_one_protocol_error(messages: list[str], code: int, says: str) -> None:
    """defects.md #14: each of these raised AttributeError or RecursionError (1011)."""
    adapter = VoxologyAdapter()
    with pytest.raises(ProtocolError) as raised:
        for message in messages:
            adapter.receive(message)
    assert raised.value.code == code and says in raised.value.reason
