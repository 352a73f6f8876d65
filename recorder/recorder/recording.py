"""One call's audio on its way to the store, durable while the call is live.

The session hands PCM frames to a `Recording`. They go into a segment file in the call's spool directory; every
`segment_s` seconds of audio the segment is closed and uploaded as a part object, and the call's lease is renewed.
At hang-up the last partial segment is uploaded and the final WAV is assembled in the store without uploading the
audio again (Cloud Storage compose: a header object plus the segments). So the spool holds only what is not yet in
the store, about two segments per call, and losing the recorder costs at most the last segment.

Objects under `.parts/` (README: "What is in the bucket"):
    .parts/claims/<call>         created once, create-only: the one stream allowed for this call, on any instance
    .parts/leases/<call>         the call's manifest, rewritten with each segment: who owns it, and when it was
                                 last renewed; a lease older than `lease_s` means the owner is gone
    .parts/calls/<call>/seg-N    the audio, in order; header and compose stages beside them at hang-up
Everything but the claim is removed once the final object exists; claims expire by the bucket's lifecycle rule
(a replayed token must still be refused after the call ended, and tokens live five minutes).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gevent
from gevent.lock import BoundedSemaphore

from .closing import CloseCode, Refused
from .store import MAX_COMPOSE_SOURCES, Store
from .wav import HEADER_SIZE, header

log = logging.getLogger("recorder.recording")

PARTS = ".parts/"
CLAIMS, LEASES, CALLS = f"{PARTS}claims/", f"{PARTS}leases/", f"{PARTS}calls/"
# RIFF sizes are 32-bit: a call stops being recorded before its data would pass 4 GiB (README: Limits).
MAX_DATA_BYTES = 2**32 - 1 - HEADER_SIZE
# Uploads in flight per worker: bounds the memory they buffer (each part is read whole, at most a few MiB).
UPLOAD_SLOTS = BoundedSemaphore(16)
RETRY_DELAYS_S = (0.5, 1, 2, 4, 8, 15)  # between attempts at a segment, then every 15 s while the call lives

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
OBJECT_NAME = re.compile(r"^\d{4}/\d{2}/\d{2}/[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}\.wav$")


def safe_name(call_id: str) -> str:
    """A call id as a file and object name: no path separators, no leading dot, bounded length."""
    return _UNSAFE.sub("_", call_id)[:128].lstrip(".") or "call"


def object_name(call_id: str, started_at: float) -> str:
    day = datetime.fromtimestamp(started_at, UTC).strftime("%Y/%m/%d")
    return f"{day}/{safe_name(call_id)}.wav"


def segment_name(key: str, index: int) -> str:
    return f"{CALLS}{key}/seg-{index:06d}"


def claim(store: Store, key: str, stream_id: str) -> None:
    """Take the call for this stream, or refuse it: a second stream for a call is refused on every instance,
    also after the first one ended (a replayed token). A retry that meets its own claim (the first response was
    lost) is still this stream's."""
    name = f"{CLAIMS}{key}"
    if store.create(name, stream_id.encode()) or store.read(name) == stream_id.encode():
        return
    raise Refused(CloseCode.POLICY_VIOLATION, "this call is already being recorded, or was, on another stream")


class Recording:
    """The live side: segment files in `spool_dir`, uploaded as they fill, assembled by `finish()`."""

    def __init__(
        self,
        store: Store,
        spool_dir: Path,
        manifest: dict[str, Any],
        segment_s: int,
        deadline_s: float,
    ) -> None:
        self._store = store
        self.spool_dir = spool_dir
        self.manifest = manifest  # key, stream_id, object_name, sample_rate, channels, metadata
        self.key: str = manifest["key"]
        self._block_align: int = 2 * manifest["channels"]
        self._segment_bytes = segment_s * manifest["sample_rate"] * self._block_align
        self._renew_every_s = segment_s
        self._deadline_s = deadline_s
        self.data_bytes = 0
        self._segment_index = 0
        self._segment: Any = None  # the open segment file
        self._segment_filled = 0
        self._carry = b""  # a partial frame waiting for the rest of its bytes
        self._uploads: list[gevent.Greenlet] = []
        self._renewed_at = 0.0
        self.requests = 0  # store requests made for this call, for the benchmark's requests per call-hour
        self._write_state()
        self._renew()

    @property
    def frames(self) -> int:
        return self.data_bytes // self._block_align

    def write(self, pcm: bytes) -> None:
        size = len(pcm)
        if (  # the hot path: whole frames that fit in the open segment
            not self._carry
            and self._segment is not None
            and not size % self._block_align
            and self._segment_filled + size < self._segment_bytes
            and self.data_bytes + size <= MAX_DATA_BYTES
        ):
            self._segment.write(pcm)
            self._segment_filled += size
            self.data_bytes += size
            return
        if self._carry:
            pcm, self._carry = self._carry + pcm, b""
        partial = len(pcm) % self._block_align
        if partial:
            pcm, self._carry = pcm[:-partial], pcm[-partial:]
        if self.data_bytes + len(pcm) > MAX_DATA_BYTES:
            raise Refused(CloseCode.POLICY_VIOLATION, "call longer than a WAV file can hold (4 GiB of audio)")
        while pcm:
            if self._segment is None:
                self._segment_index += 1
                path = self._segment_path(self._segment_index)
                self._segment = open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")  # noqa: SIM115
                self._segment_filled = 0
            room = self._segment_bytes - self._segment_filled
            piece, pcm = pcm[:room], pcm[room:]
            self._segment.write(piece)
            self._segment_filled += len(piece)
            self.data_bytes += len(piece)
            if self._segment_filled >= self._segment_bytes:
                self._close_segment()

    def keep_alive(self, now: float) -> None:
        """Renew the lease when no segment did lately (a call whose audio paused): its owner is alive."""
        if now - self._renewed_at > self._renew_every_s:
            self._renewed_at = now
            self._uploads.append(gevent.spawn(self._renew))

    def finish(self, final_metadata: Mapping[str, Any]) -> str:
        """Upload the tail and assemble the final WAV; return where it is. Raises if the store is unreachable
        for longer than the upload deadline: the spool directory then keeps the call for the sweeper."""
        if self._segment is not None:
            self._close_segment()
        self.manifest = {**self.manifest, "metadata": dict(final_metadata), "finished": True}
        self._write_state()
        gevent.joinall(self._uploads, timeout=self._deadline_s)
        pending = [upload for upload in self._uploads if not upload.dead]
        if pending:
            gevent.killall(pending, block=False)  # the sweeper takes over from the spool
            raise TimeoutError(f"{len(pending)} uploads still failing after {self._deadline_s:g} s")
        failed = [upload for upload in self._uploads if not upload.successful()]
        if failed:
            raise failed[0].exception
        location, self.requests = assemble(self._store, self.manifest, self.requests, clean_up=False)
        return location

    def clean_up(self) -> None:
        """Once stored: delete the parts the final WAV was composed of, and the spool directory. Until then a
        worker that stops leaves them to the sweeper, which finds the recording stored already."""
        remove_parts(self._store, self.key)
        remove_spool(self.spool_dir)

    def abandon(self) -> None:
        """Stop uploading (the worker is going down without storing): what is in the spool stays there."""
        if self._segment is not None:
            self._segment.close()
            self._segment = None
        gevent.killall(self._uploads, block=False)

    def _segment_path(self, index: int) -> Path:
        return self.spool_dir / f"seg-{index:06d}"

    def _close_segment(self) -> None:
        self._segment.close()
        self._segment = None
        self._uploads = [upload for upload in self._uploads if not upload.dead or not upload.successful()]
        self._uploads.append(gevent.spawn(self._upload, self._segment_index))

    def _upload(self, index: int) -> None:
        path = self._segment_path(index)
        for attempt in itertools.count():  # until it lands, or finish() gives up and hands it to the sweeper
            try:
                with UPLOAD_SLOTS:
                    self.requests += 1
                    self._store.create(segment_name(self.key, index), path.read_bytes())
                break
            except Exception as error:  # a storage outage: keep the segment in the spool and try again
                delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
                if attempt == 0:
                    log.warning("segment upload failed, retrying: %s", error, extra={"call_id": self.key})
                gevent.sleep(delay)
        path.unlink()
        self._renew()

    def _renew(self) -> None:
        self._renewed_at = time.monotonic()
        lease = {**self.manifest, "renewed_at": time.time()}
        try:
            self.requests += 1
            self._store.put(f"{LEASES}{self.key}", json.dumps(lease).encode())
        except Exception as error:
            log.warning("lease renewal failed: %s", error, extra={"call_id": self.key})

    def _write_state(self) -> None:
        write_private(self.spool_dir / "state.json", json.dumps(self.manifest).encode())


def assemble(
    store: Store, manifest: Mapping[str, Any], requests: int = 0, recovered: bool = False, clean_up: bool = True
) -> tuple[str, int]:
    """Compose the header and the call's segments into its final WAV, then remove the parts (unless `clean_up`
    is False: `remove_parts` later); return its location and the request count, the removal's included. Safe to
    repeat: a final object that exists already is left as it is."""
    key, name, stream_id = manifest["key"], manifest["object_name"], manifest["stream_id"]
    if not OBJECT_NAME.match(name) or safe_name(key) != key:
        raise ValueError(f"refusing to assemble into {name!r}: not a recording's name")
    prefix = f"{CALLS}{key}/"
    sizes = store.sizes(prefix)
    requests += 1
    segments = sorted(part for part in sizes if part.startswith(f"{prefix}seg-"))
    data_bytes = sum(sizes[part] for part in segments)
    typed = dict(manifest["metadata"])
    if recovered:
        frames = data_bytes // (2 * manifest["channels"])
        typed.update(
            recovered=True,
            end_reason="recovered: the recorder stopped during the call",
            duration_s=round(frames / manifest["sample_rate"], 3),
        )
    header_part = f"{prefix}header"
    store.put(header_part, header(manifest["sample_rate"], manifest["channels"], data_bytes))
    sources, stage, stage_parts = [header_part, *segments], 0, 0
    while len(sources) > MAX_COMPOSE_SOURCES:  # compose in stages: 32 sources per request
        stage += 1
        groups = [sources[i : i + MAX_COMPOSE_SOURCES] for i in range(0, len(sources), MAX_COMPOSE_SOURCES)]
        sources = []
        for number, group in enumerate(groups):
            sources.append(f"{prefix}stage-{stage}-{number:04d}")
            store.compose(group, sources[-1], {}, "application/octet-stream", create_only=False)
        requests += len(groups)
        stage_parts += len(groups)
    # Create-only: if the final object exists, this call was assembled already (a lost response, or two
    # instances recovering it at once), and the claim guarantees no other stream can have made it.
    store.compose(sources, name, {**typed, "stream_id": stream_id}, "audio/wav", create_only=True)
    requests += 2
    if clean_up:
        return store.url(name), remove_parts(store, key, requests)
    # What remove_parts will make: the listing, and a delete for each part, stage and the lease.
    return store.url(name), requests + 1 + len(segments) + 1 + stage_parts + 1


def remove_parts(store: Store, key: str, requests: int = 0) -> int:
    """Delete a stored call's parts and its lease; return the request count."""
    for part in [*store.sizes(f"{CALLS}{key}/"), f"{LEASES}{key}"]:
        store.delete(part)
        requests += 1
    return requests + 1


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` atomically, readable by this user only."""
    staged = path.with_name(f".{path.name}.tmp")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "wb") as f:
        f.write(data)
    os.replace(staged, path)


def remove_spool(spool_dir: Path) -> None:
    for path in spool_dir.iterdir():
        path.unlink()
    spool_dir.rmdir()


def read_manifest(data: bytes | None) -> dict[str, Any] | None:
    try:
        manifest = json.loads(data or b"")
    except ValueError:
        return None
    return manifest if isinstance(manifest, dict) else None
