"""Where recordings go: a Cloud Storage bucket, or a local directory when no bucket is set.

Both offer the same few object operations, and `recording.py` builds the durable-streaming protocol on them once:
segments uploaded while the call is live, a lease renewed with each, a create-only claim per call, and one final
WAV assembled server-side at hang-up. The only atomic primitive either needs is a create-only write
(`if_generation_match=0` in Cloud Storage, `O_EXCL` on a file system).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from google.api_core.exceptions import Forbidden, NotFound, PreconditionFailed
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from .metadata import for_gcs

# Cloud Storage's compose takes at most 32 source objects per request (longer lists compose in stages).
MAX_COMPOSE_SOURCES = 32


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

    def compose(
        self, sources: Sequence[str], name: str, metadata: Mapping[str, Any], content_type: str, create_only: bool
    ) -> bool:
        """`name` becomes the concatenation of `sources` (at most MAX_COMPOSE_SOURCES), without re-uploading,
        with `metadata` (typed values: `metadata.py` is the schema). With `create_only`, an existing `name` is left
        as it is and False returned: the recorder may not read finished recordings (infra/iam.tf), so this is how
        it learns a recording is already there."""
        ...

    def delete(self, name: str) -> None:
        """Remove `name`; nothing if it is gone already."""
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
            self._client = storage.Client()  # one per process: it pools its HTTP connections
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

    def compose(
        self, sources: Sequence[str], name: str, metadata: Mapping[str, Any], content_type: str, create_only: bool
    ) -> bool:
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
            return False
        return True

    def delete(self, name: str) -> None:
        try:
            self._bucket.blob(name).delete(retry=self._retry)
        except NotFound:
            pass

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
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = self._staged(path, data)
        try:
            os.link(staged, path)  # atomic, and fails rather than replace: the file system's create-only write
        except FileExistsError:
            return False
        finally:
            staged.unlink()
        return True

    def put(self, name: str, data: bytes) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._staged(path, data), path)

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
            if path.is_file() and name.startswith(prefix) and ".staged-" not in name:
                found[name] = path.stat().st_size
        return dict(sorted(found.items()))

    def compose(
        self, sources: Sequence[str], name: str, metadata: Mapping[str, Any], content_type: str, create_only: bool
    ) -> bool:
        path = self.root / name
        if create_only and path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = path.parent / f".{path.name}.staged-{uuid.uuid4().hex}"
        with staged.open("wb") as out:
            for source in sources:
                out.write((self.root / source).read_bytes())
        if metadata:  # typed JSON beside the WAV, there before the WAV appears
            os.replace(self._staged(path, (json.dumps(metadata, indent=2) + "\n").encode()), path.with_suffix(".json"))
        if not create_only:
            os.replace(staged, path)
            return True
        try:
            os.link(staged, path)  # complete when it appears, as a composed object is
        except FileExistsError:
            return False
        finally:
            staged.unlink()
        return True

    def delete(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)

    def url(self, name: str) -> str:
        return str(self.root / name)

    def probe(self) -> str | None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            return f"RECORDINGS_DIR={self.root}: cannot create it ({error.strerror}): set it to a directory of yours"
        if not os.access(self.root, os.W_OK | os.X_OK):
            return f"RECORDINGS_DIR={self.root}: not writable by this user: set it to a directory of yours"
        return None

    @staticmethod
    def _staged(path: Path, data: bytes) -> Path:
        staged = path.parent / f".{path.name}.staged-{uuid.uuid4().hex}"
        staged.write_bytes(data)
        return staged


def store_for(bucket: str, recordings_dir: str, upload_deadline_s: float = 60.0) -> Store:
    return GcsStore(bucket, upload_deadline_s) if bucket else LocalStore(recordings_dir)
