"""What a person sees of a simulated call: a live counter while it streams, where the recording went, and any
failure as one line that says what to do."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.error
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

from websockets.exceptions import InvalidHandshake, InvalidStatus

from .audio import AudioError

T = TypeVar("T")
TICK_S = 0.1


async def with_counter(call: Awaitable[T], label: str, length_s: float, speed: float, out: TextIO = sys.stderr) -> T:
    """Await `call` under a one-line live counter of the call's time (on a terminal only: a log stays clean)."""
    if not out.isatty() or speed <= 0:
        return await call

    async def tick() -> None:
        start = time.monotonic()
        while True:
            at = min(length_s, (time.monotonic() - start) * speed)
            out.write(f"\r{label}: {at:5.1f} s of {length_s:.1f} s")
            out.flush()
            await asyncio.sleep(TICK_S)

    counter = asyncio.create_task(tick())
    try:
        return await call
    finally:
        counter.cancel()
        out.write("\r\033[K")  # the counter's line, erased for the report
        out.flush()


@dataclass(frozen=True)
class Stored:
    where: str  # a path, or a gs:// URL
    duration_s: float
    sample_rate: int
    channels: int

    @classmethod
    def of(cls, where: str, metadata: dict[str, Any]) -> Stored:
        # Numbers are strings in Cloud Storage's custom metadata, and may be numbers in the local sidecar.
        return cls(where, float(metadata["duration_s"]), int(metadata["sample_rate"]), int(metadata["channels"]))


def find_recording(recordings_dir: Path, call_id: str, since: float, timeout_s: float = 15.0) -> Stored | None:
    """The recording the local stack stored for `call_id`, found by its JSON sidecar (which names the call as the
    provider did, whatever the file's sanitised name), among those written since `since` (wall clock)."""
    deadline = time.monotonic() + timeout_s
    while True:
        for sidecar in recordings_dir.glob("*/*/*/*.json"):
            try:
                if sidecar.stat().st_mtime < since:
                    continue
                metadata = json.loads(sidecar.read_text())
                if metadata.get("call_id") == call_id:
                    return Stored.of(str(sidecar.with_suffix(".wav")), metadata)
            except (OSError, ValueError, KeyError):
                continue  # removed, or not a recording's sidecar
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)


def find_in_bucket(bucket: str, call_id: str, since: float, timeout_s: float = 15.0) -> Stored | None:
    """The same, in a Cloud Storage bucket (or the emulator at STORAGE_EMULATOR_HOST): objects are named by the
    UTC date the call started, and carry the call id in their metadata."""
    from google.cloud import storage

    client = storage.Client()
    days = {time.strftime("%Y/%m/%d/", time.gmtime(moment)) for moment in (since, time.time())}
    deadline = time.monotonic() + timeout_s
    while True:
        for day in sorted(days):
            for blob in client.list_blobs(bucket, prefix=day):
                if blob.name.endswith(".wav") and (blob.metadata or {}).get("call_id") == call_id:
                    return Stored.of(f"gs://{bucket}/{blob.name}", blob.metadata)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.5)


def explain(error: Exception, answer_url: str) -> str | None:
    """One line for a failure a person can act on; None for anything else (a bug: let it raise)."""
    if isinstance(error, urllib.error.HTTPError):
        return f"{answer_url} answered HTTP {error.code} {error.reason}: is that the answer function? (--function-url)"
    if isinstance(error, urllib.error.URLError):
        return f"nothing answers at {answer_url} ({error.reason}): start `make run` in another terminal"
    if isinstance(error, InvalidStatus):
        return f"the recorder refused the stream with HTTP {error.response.status_code}"
    if isinstance(error, InvalidHandshake):
        return f"what answers at the recorder's URL is not the recorder: {error}"
    if isinstance(error, OSError):
        return f"cannot reach the recorder ({error}): is `make run` still running?"
    if isinstance(error, AudioError):
        return str(error)
    if isinstance(error, ValueError):  # an answer document the simulator cannot follow (or not JSON, not XML)
        return f"{answer_url}: {error}"
    return None
