"""jambonz end to end: the simulated jambonz fetches our verbs from the real answer function, runs `listen` against
the real recorder under gunicorn, and the stereo L16 it sent is stored bit-exact."""

from __future__ import annotations

import array
import json

import pytest
from support.stack import Stack, run, wait_for
from websockets.asyncio.client import connect

from callsim import jambonz
from callsim.audio import read_wav, sample
from callsim.common import StreamOptions


def channel(pcm: bytes, index: int) -> bytes:
    return array.array("h", pcm)[index::2].tobytes()


@pytest.mark.parametrize("rate", [8000, 16000])
def test_stereo_listen_is_stored_bit_exact_caller_left(gcs_stack: Stack, rate: int) -> None:
    caller, callee = read_wav(sample(rate)), read_wav(sample(rate, "agent"))
    options = StreamOptions(speed=0, dtmf=((1.0, "7"),))
    result = run(jambonz.call(gcs_stack.answer_url("jambonz", rate), {"caller": caller, "callee": callee}, options))

    recording = gcs_stack.stored(result.call_id)
    assert (recording.channels, recording.sample_rate) == (2, rate)
    assert channel(recording.pcm, 0) == caller.data
    assert channel(recording.pcm, 1) == callee.data.ljust(len(caller.data), b"\x00")
    meta = recording.metadata
    assert (meta["provider"], meta["call_id"], meta["tracks"]) == ("jambonz", result.call_id, "caller,callee")
    assert (meta["from"], meta["to"], meta["direction"]) == ("+15550100001", "+15550100002", "inbound")
    assert [press["digit"] for press in json.loads(meta["dtmf"])] == ["7"]
    assert meta["end_reason"] == "connection closed"


def test_another_calls_token_is_refused_and_stores_nothing(gcs_stack: Stack) -> None:
    verbs = jambonz.fetch_verbs(gcs_stack.answer_url("jambonz"), "call-a", "+1", "+2")
    url = jambonz.listen_verb(verbs)["url"]

    async def stream_as_another_call() -> tuple[str | None, int | None]:
        async with connect(url, subprotocols=[jambonz.SUBPROTOCOL]) as ws:
            await ws.send(json.dumps({"callSid": "call-b", "sampleRate": 16000, "mixType": "stereo"}))
            await ws.send(b"\x00\x00" * 640)
            await ws.wait_closed()
        return ws.subprotocol, ws.close_code

    assert run(stream_as_another_call()) == ("audio.jambonz.org", 1008)  # the 101 echoed jambonz's subprotocol
    wait_for(lambda: any("token is for another call" in e["message"] for e in gcs_stack.logs()), what="the refusal")
    assert gcs_stack.find("call-b") is None
