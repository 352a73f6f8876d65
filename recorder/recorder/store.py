"""Where finished recordings go: a Cloud Storage bucket, or a local directory when no bucket is set.

Both never overwrite: if a name is taken (the same call recorded twice), the recording gets the next free
`-N` suffix instead, so no audio is ever lost or replaced.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from google.api_core.exceptions import PreconditionFailed
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

MAX_SUFFIX = 100


class Store(Protocol):
    def save(self, wav_path: str, name: str, metadata: dict[str, str]) -> str:
        """Store the WAV at `wav_path` under `name` (or a free variant of it); return where it went."""
        ...


def _candidates(name: str) -> Iterator[str]:
    stem, dot, ext = name.rpartition(".")
    yield name
    for n in range(1, MAX_SUFFIX):
        yield f"{stem}-{n}{dot}{ext}"


class GcsStore:
    def __init__(self, bucket: str, deadline_s: float = 60.0, client: storage.Client | None = None) -> None:
        self.bucket_name = bucket
        self._client = client
        # Exponential backoff with jitter (google-api-core's), on connection errors, 429 and 5xx, until the deadline.
        self._retry = DEFAULT_RETRY.with_deadline(deadline_s)

    def save(self, wav_path: str, name: str, metadata: dict[str, str]) -> str:
        if self._client is None:
            self._client = storage.Client()  # one per process: it pools its HTTP connections
        bucket = self._client.bucket(self.bucket_name)
        for candidate in _candidates(name):
            blob = bucket.blob(candidate)
            blob.metadata = metadata
            try:
                # if_generation_match=0: create only, never replace; which also makes retrying it safe.
                # checksum: the client compares the object's CRC32C with the file's and fails on a mismatch.
                blob.upload_from_filename(
                    wav_path, content_type="audio/wav", if_generation_match=0, checksum="crc32c", retry=self._retry
                )
            except PreconditionFailed:
                continue
            return f"gs://{self.bucket_name}/{candidate}"
        raise FileExistsError(f"gs://{self.bucket_name}/{name} and its variants are all taken")


class LocalStore:
    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def save(self, wav_path: str, name: str, metadata: dict[str, str]) -> str:
        first = self.root / name
        first.parent.mkdir(parents=True, exist_ok=True)
        staged = first.parent / f".{first.name}.{uuid.uuid4().hex}.part"
        shutil.copyfile(wav_path, staged)
        try:
            for candidate in _candidates(name):
                target = self.root / candidate
                try:
                    os.link(staged, target)  # atomic, and fails rather than replace an existing file
                except FileExistsError:
                    continue
                _write_atomically(target.with_suffix(".json"), json.dumps(metadata, indent=2) + "\n")
                return str(target)
        finally:
            staged.unlink()
        raise FileExistsError(f"{first} and its variants are all taken")


def _write_atomically(path: Path, text: str) -> None:
    staged = path.parent / f".{path.name}.{uuid.uuid4().hex}.part"
    staged.write_text(text)
    os.replace(staged, path)


def store_for(bucket: str, recordings_dir: str, upload_deadline_s: float = 60.0) -> Store:
    return GcsStore(bucket, upload_deadline_s) if bucket else LocalStore(recordings_dir)
