"""One call's audio on its way to the store, durable while the call is live.

The session hands PCM frames to a `Recording`. They go into a segment file in the call's spool directory; every
`segment_s` seconds of audio the segment is closed and added to the store as the call's next part, and the
call's lease is renewed. At hang-up the last partial segment is added and the final WAV is assembled in the store
without moving the audio again (`store.py`: a compose in Cloud Storage, a header and a hard link on a directory).
So the spool holds only what is not yet in the store, about two segments per call, and losing the recorder costs
at most the last segment.

Objects under `.parts/` (README: "What is in the bucket"):
    .parts/claims/<call>         created once, create-only: the one stream allowed for this call, on any instance
    .parts/leases/<call>         the call's manifest, rewritten with each segment: who owns it, and when it was
                                 last renewed; a lease older than `lease_s` means the owner is gone
    .parts/calls/<call>/         the audio so far (`store.py`: a part object per segment, or one file)
Everything but the claim is removed once the final object exists; claims expire by the bucket's lifecycle rule
(a replayed token must still be refused after the call ended, and tokens live five minutes).
"""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Mapping
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import gevent
from gevent.lock import BoundedSemaphore

from .closing import CloseCode, Refused
from .store import Store
from .wav import HEADER_SIZE, header

log = logging.getLogger("recorder.recording")

STARTED, FINISHED = "started.json", "finished.json"  # a spooled call's manifest: at its start, and at hang-up
PARTS = ".parts/"
CLAIMS, LEASES = f"{PARTS}claims/", f"{PARTS}leases/"
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


def claim(store: Store, key: str, stream_id: str) -> None:
    """Take the call for this stream, or refuse it: a second stream for a call is refused on every instance,
    also after the first one ended (a replayed token). A retry that meets its own claim (the first response was
    lost) is still this stream's."""
    name = f"{CLAIMS}{key}"
    if store.create(name, stream_id.encode()) or store.read(name) == stream_id.encode():
        return
    raise Refused(CloseCode.POLICY_VIOLATION, "this call is already being recorded, or was, on another stream")


class CallDirectory:
    """A live call's claim on its spool directory."""

    def __init__(self, spool_dir: Path, name: str) -> None:
        self.path = spool_dir / name
        self.path.mkdir(mode=0o700)
        self._lock: IO[bytes] | None = open(  # noqa: SIM115 - held until release()
            os.open(self.path / "lock", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600), "rb"
        )
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        """Leave what is left for the sweeper (or nothing, if the recording removed the directory)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None


class Recording:
    """The live side: segment files in a spool directory of the call's own (`name`, under `spool`), uploaded as
    they fill, assembled by `finish()`. A store on the local file system takes the audio directly instead
    (`Store.prepare_audio`): one file, nothing to upload, and no spool directory, since that file is as durable
    and its lock tells the sweeper whether the call is live (the lease holds its manifest). `release()` lets go
    of either."""

    def __init__(
        self,
        store: Store,
        spool: Path,
        name: str,
        manifest: dict[str, Any],
        segment_s: int,
        deadline_s: float,
    ) -> None:
        self._store = store
        self._block_align: int = 2 * manifest["channels"]
        self._segment_bytes = segment_s * manifest["sample_rate"] * self._block_align
        self.key: str = manifest["key"]
        # Written once, where it stays: a spool file beside a local store's file would only be copied into it.
        self._audio = store.prepare_audio(self.key)
        self._directory = None if self._audio is not None else CallDirectory(spool, name)
        self.spool_dir = self._directory.path if self._directory is not None else None
        # key, stream_id, object_name, sample_rate, channels, metadata; segment_bytes places a spooled segment;
        # locked: the sweeper may take the call as soon as nobody holds its audio (Store.in_use)
        self.manifest = {**manifest, "segment_bytes": self._segment_bytes, "locked": self._audio is not None}
        if self._audio is not None:
            self._segment_bytes = MAX_DATA_BYTES + 1  # one "segment", never full: it is the store's file
        self._renew_every_s = segment_s
        self._deadline_s = deadline_s
        self.data_bytes = 0
        self._segment_index = 1 if self._audio is not None else 0
        self._segment: Any = self._audio  # the open segment file
        self._segment_filled = 0
        self._carry = b""  # a partial frame waiting for the rest of its bytes
        self._uploads: list[gevent.Greenlet] = []
        self._parts: dict[int, int] = {}  # index -> size, of the segments in the store
        self._finishing = False
        self._renewed_at = 0.0
        self.requests = 0  # store requests made for this call, for the benchmark's requests per call-hour
        if self.spool_dir is not None:
            write_new(self.spool_dir / STARTED, json.dumps(self.manifest).encode())
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
        left = MAX_DATA_BYTES - self.data_bytes
        full = len(pcm) > left
        if full:  # what fits is kept (a session writes a read's frames in one go), the rest ends the call
            pcm = pcm[: left - left % self._block_align]
        while pcm:
            if self._segment is None:
                self._segment_index += 1
                self._segment = self._open_segment()
                self._segment_filled = 0
            room = self._segment_bytes - self._segment_filled
            piece, pcm = pcm[:room], pcm[room:]
            self._segment.write(piece)
            self._segment_filled += len(piece)
            self.data_bytes += len(piece)
            if self._segment_filled >= self._segment_bytes:
                self._close_segment()
        if full:
            raise Refused(CloseCode.POLICY_VIOLATION, "call longer than a WAV file can hold (4 GiB of audio)")

    def keep_alive(self, now: float) -> None:
        """Renew the lease when no segment did lately (a call whose audio paused): its owner is alive."""
        if now - self._renewed_at > self._renew_every_s:
            self._renewed_at = now
            self._uploads = self._unfinished()  # else a directory's call (no segments) keeps every renewal
            self._uploads.append(gevent.spawn(self._renew))

    def finish(self, final_metadata: Mapping[str, Any]) -> str:
        """Upload the tail and assemble the final WAV; return where it is. Raises if the store is unreachable
        for longer than the upload deadline: the spool directory (a local store's call: its file and lease) then
        keeps the call for the sweeper."""
        self._finishing = True  # the tail's upload renews no lease: the lease goes once the call is stored
        self.manifest = {**self.manifest, "metadata": dict(final_metadata), "finished": True}
        tail, self._segment = self._segment, None
        if self._audio is not None:
            # The audio is in the store's own file already: nothing to upload, nothing to wait for (should storing
            # fail, abandon() leaves the final manifest for the sweeper). The file stays open, and locked, until
            # release(): until the call's parts and lease are gone, the sweeper must not take it for abandoned.
            self._audio.flush()
            self._parts = {1: self.data_bytes} if self.data_bytes else {}
        else:
            if tail is not None:
                tail.close()
            self._write_finished()  # uploads may wait on the network: the sweeper must know how the call ended
            self._finish_uploads(tail is not None)
        parts = dict(sorted(self._parts.items()))
        location, self.requests = assemble(self._store, self.manifest, self.requests, parts=parts, clean_up=False)
        return location

    def _finish_uploads(self, tail: bool) -> None:
        deadline = time.monotonic() + self._deadline_s
        if tail:
            # The tail is uploaded here, not in a greenlet of its own: a call's store then runs through in one go.
            # With 500 hang-ups at once, queued greenlets made every call wait for all the others' tails.
            with gevent.Timeout(self._deadline_s, False):
                self._upload(self._segment_index)
        gevent.joinall(self._uploads, timeout=max(0.0, deadline - time.monotonic()))
        pending = [upload for upload in self._uploads if not upload.dead]
        if pending or (self._segment_index and self._segment_index not in self._parts):
            gevent.killall(pending, block=False)  # the sweeper takes over from the spool
            raise TimeoutError(f"uploads still failing after {self._deadline_s:g} s")
        failed = [upload for upload in self._uploads if not upload.successful()]
        if failed:
            raise failed[0].exception

    def clean_up(self) -> None:
        """Once stored: delete the parts the final WAV was made of, the lease, and the spool directory. Until then
        a worker that stops leaves them to the sweeper, which finds the recording stored already."""
        remove_parts(self._store, self.key, self._parts)
        if self.spool_dir is not None:
            remove_spool(self.spool_dir)

    def abandon(self) -> None:
        """Stop uploading (the worker is going down without storing): what is in the spool stays there, and what
        the local store's file buffers goes into it."""
        if self._audio is not None:
            with suppress(OSError):  # a full disk: what reached the file is what the sweeper will store
                self._audio.flush()
        elif self._segment is not None:
            self._segment.close()
        self._segment = None
        gevent.killall(self._uploads, block=False)
        if self._finishing and (self.spool_dir is None or not (self.spool_dir / FINISHED).exists()):
            self._write_finished()

    def release(self) -> None:
        """Let go of the call (the session does, once it is stored or left to the sweeper): from here a sweep
        may take whatever is left of it."""
        if self._audio is not None:
            with suppress(OSError):  # closed whatever its last flush met (abandon() said what)
                self._audio.close()
            self._audio = None
        if self._directory is not None:
            self._directory.release()

    def _write_finished(self) -> None:
        """How the call ended, for the sweeper: in its spool directory, or for a local store in its lease."""
        if self.spool_dir is None:
            self._renew()
        else:
            write_new(self.spool_dir / FINISHED, json.dumps(self.manifest).encode())

    def _segment_path(self, index: int) -> Path:
        assert self.spool_dir is not None  # a local store's call has no segments
        return self.spool_dir / f"seg-{index:06d}"

    def _open_segment(self) -> Any:
        path = self._segment_path(self._segment_index)
        return open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")  # noqa: SIM115

    def _close_segment(self) -> None:
        self._segment.close()
        self._segment = None
        self._uploads = self._unfinished()
        self._uploads.append(gevent.spawn(self._upload, self._segment_index))

    def _unfinished(self) -> list[gevent.Greenlet]:
        """The uploads still running, or failed (finish() raises their error)."""
        return [upload for upload in self._uploads if not upload.dead or not upload.successful()]

    def _upload(self, index: int) -> None:
        path = self._segment_path(index)
        size = path.stat().st_size
        for attempt in itertools.count():  # until it lands, or finish() gives up and hands it to the sweeper
            try:
                with UPLOAD_SLOTS:
                    self.requests += 1
                    self._store.add_part(self.key, index, (index - 1) * self._segment_bytes, path)
                break
            except Exception as error:  # a storage outage: keep the segment in the spool and try again
                delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
                if attempt == 0:
                    log.warning("segment upload failed, retrying: %s", error, extra={"call_id": self.key})
                gevent.sleep(delay)
        self._parts[index] = size
        path.unlink()
        if not self._finishing:
            self._renew()

    def _renew(self) -> None:
        self._renewed_at = time.monotonic()
        lease = {**self.manifest, "renewed_at": time.time()}
        try:
            self.requests += 1
            self._store.put(f"{LEASES}{self.key}", json.dumps(lease).encode())
        except Exception as error:
            log.warning("lease renewal failed: %s", error, extra={"call_id": self.key})


def assemble(
    store: Store,
    manifest: Mapping[str, Any],
    requests: int = 0,
    recovered: bool = False,
    parts: Mapping[int, int] | None = None,
    clean_up: bool = True,
) -> tuple[str, int]:
    """Assemble the header and the call's parts (those given, or those the store holds) into its final WAV, then
    remove the parts (unless `clean_up` is False: `remove_parts` later); return its location and the request count
    (deletes, which cost nothing, not counted). Safe to repeat: a final object that exists already is left as it is."""
    key, name, stream_id = manifest["key"], manifest["object_name"], manifest["stream_id"]
    if not OBJECT_NAME.match(name) or safe_name(key) != key:
        raise ValueError(f"refusing to assemble into {name!r}: not a recording's name")
    if parts is None:
        parts, requests = store.parts(key), requests + 1
    data_bytes = sum(parts.values())
    typed = dict(manifest["metadata"])
    if recovered:
        frames = data_bytes // (2 * manifest["channels"])
        typed.update(
            recovered=True,
            end_reason="recovered: the recorder stopped during the call",
            duration_s=round(frames / manifest["sample_rate"], 3),
        )
    wav_header = header(manifest["sample_rate"], manifest["channels"], data_bytes)
    requests += store.assemble(key, wav_header, parts, name, {**typed, "stream_id": stream_id})
    if clean_up:
        remove_parts(store, key, parts)
    return store.url(name), requests


def remove_parts(store: Store, key: str, parts: Mapping[int, int]) -> None:
    """Delete a stored call's parts and its lease."""
    store.remove_parts(key, parts)
    store.delete(f"{LEASES}{key}")


def write_new(path: Path, data: bytes) -> None:
    """Create `path`, readable by this user only. Never a replace: on ext4 a rename over a file flushes the new
    one's data, which cost a burst of hang-ups more than the rest of their stores. A torn file (the worker killed
    while writing it) does not parse, and the sweeper reads the one before it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


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
