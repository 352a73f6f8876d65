"""Where recordings go: a Cloud Storage bucket, or a local directory when no bucket is set.

Both offer the same operations, and `recording.py` builds the durable-streaming protocol on them once: a
create-only claim per call, a lease renewed while it is live, the call's audio added part by part as segments
fill, and one WAV assembled from the parts at hang-up. The only atomic primitive either needs is a create-only
write (`if_generation_match=0` in Cloud Storage, a hard link on a file system).

Each keeps a call's parts the way that is cheap for it, so that assembling never moves the audio again:
- Cloud Storage: one object per part, `.parts/calls/<call>/seg-N`, and a server-side compose of a header object
  and the parts into the WAV.
- A directory: one file per call, `.parts/calls/<call>/audio`, which the recording writes directly after room for
  the header (`prepare_audio`: a spool file would only be copied into it); assembling writes the header and
  hard-links the file under the recording's name. Composing copied each call whole (a 20 s call at 16 kHz is
  640 KiB) and the audio passed through the page cache four times; 500 calls hanging up at once waited ~1 s.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import requests.adapters
from google.api_core.exceptions import Forbidden, NotFound, PreconditionFailed
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from .metadata import for_gcs
from .wav import HEADER_SIZE

CALLS = ".parts/calls/"  # a live call's audio, under its key
# Cloud Storage's compose takes at most 32 source objects per request (longer lists compose in stages).
MAX_COMPOSE_SOURCES = 32
# Connections to Cloud Storage a worker keeps open, and so its requests in flight at once; a request beyond them
# waits for one. Enough for a core: at ~2 ms of the client library's CPU a request it issues ~500 a second, which
# 64 connections carry at round trips up to 128 ms.
HTTP_CONNECTIONS = 64


class Store(Protocol):
    location: str  # gs://bucket or the directory, for log lines

    def create(self, name: str, data: bytes, metadata: dict[str, str] | None = None) -> bool:
        """Write `name` only if it does not exist yet; False if it does (which a retry after a lost response also
        meets: callers decide from the content whether the existing object is their own)."""
        ...

    def put(self, name: str, data: bytes) -> None:
        """Write or replace `name`."""
        ...

    def read(self, name: str) -> bytes | None: ...

    def sizes(self, prefix: str) -> dict[str, int]:
        """Every object whose name starts with `prefix`, with its size in bytes."""
        ...

    def delete(self, name: str) -> None:
        """Remove `name`; nothing if it is gone already."""
        ...

    def prepare_audio(self, key: str) -> BinaryIO | None:
        """If this store is a local directory: make the file call `key`'s audio is written to directly, from byte
        HEADER_SIZE on (written there, it is stored, and there is no part to add), and return it open there and
        locked: the lock, which the kernel lets go of if the worker dies, is what `in_use` sees. None for Cloud
        Storage."""
        ...

    def in_use(self, key: str) -> bool | None:
        """Whether a live recording holds call `key`'s audio (`prepare_audio`'s lock); None if this store cannot
        tell (Cloud Storage, or no such file), and then only the age of the call's lease can."""
        ...

    def add_part(self, key: str, index: int, offset: int, path: Path) -> None:
        """Make the file at `path` part `index` (from 1) of call `key`'s audio, which begins `offset` bytes into
        it. Repeating it changes nothing: a retry after a lost response, or the sweeper adding a segment whose
        first attempt it cannot know the outcome of, writes the same bytes to the same place."""
        ...

    def parts(self, key: str) -> dict[int, int]:
        """The call's audio that reached the store: part index -> size in bytes, in order (a directory holds
        them as one)."""
        ...

    def assemble(
        self, key: str, header: bytes, parts: Mapping[int, int], name: str, metadata: Mapping[str, Any]
    ) -> int:
        """Make `name` the header followed by `parts`, with `metadata` (typed values: `metadata.py` is the schema),
        without moving the audio again. Create-only: an existing `name` is left as it is, since the recorder may
        not read finished recordings (infra/iam.tf). Returns the requests it made."""
        ...

    def remove_parts(self, key: str, parts: Mapping[int, int]) -> None:
        """Once `name` is assembled: delete what `add_part` and `assemble` left under the call's key."""
        ...

    def url(self, name: str) -> str: ...

    def probe(self) -> str | None:
        """At start-up: what keeps this store from taking recordings, as one line naming the fix; None if usable."""
        ...


class GcsStore:
    def __init__(self, bucket: str, deadline_s: float = 60.0, client: storage.Client | None = None) -> None:
        self.bucket_name = bucket
        self.location = f"gs://{bucket}"
        self._client = client
        # Exponential backoff with jitter (google-api-core's), on connection errors, 429 and 5xx, until the deadline.
        self._retry = DEFAULT_RETRY.with_deadline(deadline_s)

    @property
    def _bucket(self) -> storage.Bucket:
        if self._client is None:
            client = storage.Client()  # one per process: it pools its HTTP connections
            # requests' default pool keeps 10 connections and discards any other after its request: each a new
            # TLS handshake next time, and a urllib3 warning. 40 calls hanging up at once logged 112 of them. The
            # client library's maintainers suggest mounting a larger, blocking pool (python-storage issue 253).
            pool = requests.adapters.HTTPAdapter(pool_maxsize=HTTP_CONNECTIONS, pool_block=True)
            for scheme in ("https://", "http://"):  # http: an emulator
                client._http.mount(scheme, pool)
            self._client = client
        return self._client.bucket(self.bucket_name)

    def create(self, name: str, data: bytes, metadata: dict[str, str] | None = None) -> bool:
        blob = self._bucket.blob(name)
        blob.metadata = metadata
        try:
            # Parts are at most a few MiB, under the client's 8 MiB multipart threshold: one request, never a
            # resumable upload (which would buffer 100 MiB chunks in memory). checksum: the client compares the
            # object's CRC32C with the data's and fails on a mismatch. if_generation_match=0 makes a retry safe.
            blob.upload_from_string(data, if_generation_match=0, checksum="crc32c", retry=self._retry)
        except PreconditionFailed:
            return False
        return True

    def put(self, name: str, data: bytes) -> None:
        self._bucket.blob(name).upload_from_string(data, retry=self._retry)

    def read(self, name: str) -> bytes | None:
        try:
            data: bytes = self._bucket.blob(name).download_as_bytes(retry=self._retry)
        except NotFound:
            return None
        return data

    def sizes(self, prefix: str) -> dict[str, int]:
        return {blob.name: blob.size for blob in self._bucket.list_blobs(prefix=prefix, retry=self._retry)}

    def delete(self, name: str) -> None:
        try:
            self._bucket.blob(name).delete(retry=self._retry)
        except NotFound:
            pass

    def prepare_audio(self, key: str) -> BinaryIO | None:
        return None

    def in_use(self, key: str) -> bool | None:
        return None

    def add_part(self, key: str, index: int, offset: int, path: Path) -> None:
        # Create-only, so a retry is safe; one that meets the part there already met its own upload (the claim
        # allows one stream per call). checksum: the client compares the object's CRC32C with the file's.
        try:
            self._bucket.blob(_part(key, index)).upload_from_filename(
                str(path), if_generation_match=0, checksum="crc32c", retry=self._retry
            )
        except PreconditionFailed:
            pass

    def parts(self, key: str) -> dict[int, int]:
        found = self.sizes(f"{CALLS}{key}/seg-")
        return dict(sorted((int(name.rpartition("seg-")[2]), size) for name, size in found.items()))

    def assemble(
        self, key: str, header: bytes, parts: Mapping[int, int], name: str, metadata: Mapping[str, Any]
    ) -> int:
        header_name = f"{CALLS}{key}/header"
        self.put(header_name, header)
        sources, requests = [header_name, *(_part(key, index) for index in parts)], 1
        for stage in _stages(key, len(sources)):  # 32 sources per request
            for target, group in stage:
                self._compose([sources[i] for i in group], target, {}, "application/octet-stream", create_only=False)
            sources, requests = [target for target, _ in stage], requests + len(stage)
        # Create-only: if the recording exists, this call was assembled already (a lost response, or two instances
        # recovering it at once), and the claim guarantees no other stream can have made it.
        self._compose(sources, name, metadata, "audio/wav", create_only=True)
        return requests + 1

    def remove_parts(self, key: str, parts: Mapping[int, int]) -> None:
        # Named, not listed: deletes are free, listings are not.
        stages = [target for stage in _stages(key, len(parts) + 1) for target, _ in stage]
        for name in [f"{CALLS}{key}/header", *(_part(key, index) for index in parts), *stages]:
            self.delete(name)

    def _compose(
        self, sources: Sequence[str], name: str, metadata: Mapping[str, Any], content_type: str, create_only: bool
    ) -> None:
        bucket = self._bucket
        target = bucket.blob(name)
        target.metadata, target.content_type = for_gcs(metadata) or None, content_type
        try:
            target.compose(
                [bucket.blob(source) for source in sources],
                if_generation_match=0 if create_only else None,
                retry=self._retry,
            )
        except PreconditionFailed:
            pass  # create-only, and there already

    def url(self, name: str) -> str:
        return f"{self.location}/{name}"

    def probe(self) -> str | None:
        setting = f"RECORDINGS_BUCKET={self.bucket_name}"
        try:
            # One quick listing (the recorder may list the bucket, not read its recordings), not retried: a
            # misconfiguration should show at start-up, not as every call's upload failing later.
            next(iter(self._bucket.list_blobs(prefix=".parts/leases/", max_results=1, timeout=10, retry=None)), None)
        except DefaultCredentialsError:
            return (
                f"{setting}: no Google Cloud credentials here: run `gcloud auth application-default login`, "
                "or set STORAGE_EMULATOR_HOST to use an emulator"
            )
        except NotFound:
            return f"{setting}: no such bucket (create it, or unset RECORDINGS_BUCKET to record into RECORDINGS_DIR)"
        except Forbidden:
            return f"{setting}: these credentials may not list it (the recorder needs storage.objects.list on it)"
        except Exception as error:
            why = type(error).__name__
            return f"{setting}: Cloud Storage did not answer ({why}): check the network or STORAGE_EMULATOR_HOST"
        return None


class LocalStore:
    """A directory laid out as the bucket is: object names are relative paths; metadata sits in a `.json` beside."""

    def __init__(self, root: str) -> None:
        self.root = Path(root)
        self.location = str(self.root)

    def create(self, name: str, data: bytes, metadata: dict[str, str] | None = None) -> bool:
        # O_EXCL: atomic, and fails rather than replace, the file system's create-only write. It holds a claim:
        # a reader that meets one before its bytes are in (another worker, refused either way) compares unequal.
        try:
            _write(os.path.join(self.location, name), data, os.O_EXCL)
        except FileExistsError:
            return False
        return True

    def put(self, name: str, data: bytes) -> None:
        # In place, not a staged file renamed over it: put rewrites a lease every SEGMENT_S, and on ext4 a rename
        # over a file allocates and flushes the new one's blocks (7 % of the worker's time at 500 calls). A reader
        # meeting a half-written lease sees JSON that does not parse, and leaves it for the next sweep.
        fd = _open(os.path.join(self.location, name), os.O_WRONLY | os.O_CREAT)  # a mkdir only the first time
        try:
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
        finally:
            os.close(fd)

    def read(self, name: str) -> bytes | None:
        try:
            return (self.root / name).read_bytes()
        except FileNotFoundError:
            return None

    def sizes(self, prefix: str) -> dict[str, int]:
        directory = prefix.rpartition("/")[0]
        base = self.root / directory
        if not base.is_dir():
            return {}
        found = {}
        for path in base.rglob("*"):
            name = path.relative_to(self.root).as_posix()
            if path.is_file() and name.startswith(prefix):
                found[name] = path.stat().st_size
        return dict(sorted(found.items()))

    def delete(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)

    def prepare_audio(self, key: str) -> BinaryIO | None:
        # Every file the call needs is made now, at its start, and only filled in at hang-up: on ext4 making an
        # inode is the costly step of storing (0.15-0.35 ms of CPU once many files were deleted lately, against
        # 0.02 to open one that exists), and 500 calls hanging up at once are stored one after another. The
        # metadata's file waits beside the audio until assembling links it into place.
        audio = open(_open(self._audio(key), os.O_WRONLY | os.O_CREAT), "wb")  # noqa: SIM115 - the caller's now
        try:
            # The claim lets one stream record a call: held already, this file is another stream's.
            fcntl.flock(audio, fcntl.LOCK_EX | fcntl.LOCK_NB)
            audio.seek(HEADER_SIZE)  # the header's room: assembling writes it there
            os.close(_open(self._staged_metadata(key), os.O_WRONLY | os.O_CREAT))
        except BaseException:
            audio.close()
            raise
        return audio

    def in_use(self, key: str) -> bool | None:
        try:
            fd = os.open(self._audio(key), os.O_RDONLY)
        except FileNotFoundError:
            return None  # never made, or removed with the stored call's parts
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # and with it the lock just taken
        return False

    def add_part(self, key: str, index: int, offset: int, path: Path) -> None:
        # The recorder writes to `prepare_audio`'s file and adds no part here; the sweeper adds whatever segments
        # a spool holds (one kept from a Cloud Storage recorder). Each at its own place: adding one twice changes
        # nothing.
        audio = self._audio(key)
        data = path.read_bytes()
        fd = _open(audio, os.O_WRONLY | os.O_CREAT)
        try:
            if os.pwrite(fd, data, HEADER_SIZE + offset) != len(data):
                raise OSError(f"{audio}: short write")  # a full disk: the segment stays in the spool
        finally:
            os.close(fd)

    def parts(self, key: str) -> dict[int, int]:
        try:
            size = os.stat(self._audio(key)).st_size - HEADER_SIZE
        except FileNotFoundError:
            return {}
        return {1: size} if size > 0 else {}

    def assemble(
        self, key: str, header: bytes, parts: Mapping[int, int], name: str, metadata: Mapping[str, Any]
    ) -> int:
        # The hang-up path of every call on a directory: plain string paths, and a directory is made only when a
        # file cannot be created for the want of it (500 calls hanging up at once are stored one after another).
        if len(header) != HEADER_SIZE:
            raise ValueError(f"a local recording keeps room for a {HEADER_SIZE}-byte header, not {len(header)}")
        path, audio = os.path.join(self.location, name), self._audio(key)
        if os.path.exists(path):
            return 0  # create-only
        fd = _open(audio, os.O_WRONLY | os.O_CREAT)  # prepare_audio made it; made here for a call the sweeper stores
        try:
            os.pwrite(fd, header, 0)
            data_end = HEADER_SIZE + sum(parts.values())
            if os.fstat(fd).st_size != data_end:
                os.ftruncate(fd, data_end)
        finally:
            os.close(fd)
        if metadata:  # typed JSON beside the WAV, whole before the WAV appears
            staged = self._staged_metadata(key)  # prepare_audio's file; made now for a call the sweeper stores
            sidecar = path.removesuffix(".wav") + ".json"
            _write(staged, json.dumps(metadata).encode() + b"\n", 0)
            # A link, as the WAV's: a rename took twice as long. One there already (an earlier attempt stopped
            # before the WAV) is replaced by this attempt's.
            try:
                _into_place(os.link, staged, sidecar)
            except FileExistsError:
                os.replace(staged, sidecar)
        try:
            _into_place(os.link, audio, path)  # complete when it appears, as a composed object is; create-only
        except FileExistsError:
            pass
        return 0

    def remove_parts(self, key: str, parts: Mapping[int, int]) -> None:
        audio = self._audio(key)
        for leftover in (audio, self._staged_metadata(key)):  # the recording keeps its own link to the audio
            with suppress(FileNotFoundError):
                os.unlink(leftover)
        with suppress(OSError):  # not empty (a stray file is the sweeper's business), or gone
            os.rmdir(os.path.dirname(audio))

    def _audio(self, key: str) -> str:
        return os.path.join(self.location, CALLS, key, "audio")

    def _staged_metadata(self, key: str) -> str:
        return os.path.join(self.location, CALLS, key, "metadata.json")

    def url(self, name: str) -> str:
        return os.path.join(self.location, name)

    def probe(self) -> str | None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            return f"RECORDINGS_DIR={self.root}: cannot create it ({error.strerror}): set it to a directory of yours"
        if not os.access(self.root, os.W_OK | os.X_OK):
            return f"RECORDINGS_DIR={self.root}: not writable by this user: set it to a directory of yours"
        # What every call needs of its file system: a live call's file locked (flock), the recording a hard link.
        # Some network and FUSE mounts have neither.
        fd, probe = tempfile.mkstemp(prefix=".probe-", dir=self.root)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.link(probe, probe + ".link")
            os.unlink(probe + ".link")
        except OSError as error:
            return (
                f"RECORDINGS_DIR={self.root}: its file system cannot lock a file or link it ({error.strerror}), "
                "as every call's recording needs: set it to a directory on a local disk"
            )
        finally:
            os.close(fd)
            os.unlink(probe)
        return None


def _open(path: str, flags: int) -> int:
    """os.open, making the file's directory if it is missing (0600: recordings are the user's alone)."""
    try:
        return os.open(path, flags, 0o600)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return os.open(path, flags, 0o600)


def _write(path: str, data: bytes, flags: int) -> None:
    """Write `data` as the file at `path` (`flags`: O_EXCL to create it only, 0 to replace what it holds).

    Cut to size after writing, never opened with O_TRUNC: on ext4, closing a file that was truncated to nothing
    starts writing its blocks out (auto_da_alloc, for editors that rewrite files in place), and that close took
    27-275 us against 1 us, most of a call's store when 500 hang up at once."""
    fd = _open(path, os.O_WRONLY | os.O_CREAT | flags)
    try:
        os.write(fd, data)
        if not flags & os.O_EXCL:
            os.ftruncate(fd, len(data))  # what an earlier, longer content left beyond it
    finally:
        os.close(fd)


def _into_place(operation: Callable[[str, str], None], source: str, path: str) -> None:
    """os.link or os.replace `source` to `path`, making the new name's directory if it is missing."""
    try:
        operation(source, path)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        operation(source, path)


def _part(key: str, index: int) -> str:
    return f"{CALLS}{key}/seg-{index:06d}"


def _stages(key: str, sources: int) -> list[list[tuple[str, range]]]:
    """How `sources` objects compose into one, 32 at a time: for each stage, the objects it makes, each with the
    range of the previous stage's objects it joins. Empty when one request will do."""
    stages: list[list[tuple[str, range]]] = []
    while sources > MAX_COMPOSE_SOURCES:
        groups = [range(i, min(i + MAX_COMPOSE_SOURCES, sources)) for i in range(0, sources, MAX_COMPOSE_SOURCES)]
        stages.append([(f"{CALLS}{key}/stage-{len(stages) + 1}-{n:04d}", group) for n, group in enumerate(groups)])
        sources = len(groups)
    return stages


def store_for(bucket: str, recordings_dir: str, upload_deadline_s: float = 60.0) -> Store:
    return GcsStore(bucket, upload_deadline_s) if bucket else LocalStore(recordings_dir)
