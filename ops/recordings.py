"""python -m ops.recordings: list the recordings in a bucket with their metadata, filtered by date range, phone
number or call id, and download one to play it."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from google.auth.exceptions import DefaultCredentialsError
from google.cloud import storage

# What the recorder stores: YYYY/MM/DD/<call-id>.wav, the UTC day the call started (README, What gets stored).
# Anything else in the bucket (the recorder's .parts/, a file someone copied in) is not a recording.
RECORDING_NAME = re.compile(r"^\d{4}/\d{2}/\d{2}/(?P<stem>[^/]+)\.wav$")
COLUMNS = ("started_at", "provider", "from", "to", "duration_s")


@dataclass(frozen=True)
class Recording:
    bucket: str
    name: str
    size: int
    metadata: dict[str, str]

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}"

    @property
    def call_id(self) -> str:
        return self.metadata.get("call_id") or self.name.rsplit("/", 1)[-1].removesuffix(".wav")


def digits(number: str) -> str:
    """A phone number as its digits: providers write +15550100, 15550100 or 1 555 0100 for the same one."""
    return re.sub(r"\D", "", number)


def find(
    client: storage.Client,
    bucket: str,
    *,
    since: date | None = None,
    until: date | None = None,
    number: str = "",
    call_id: str = "",
) -> Iterator[Recording]:
    """The bucket's recordings, oldest day first. A date range is a name range, since names start with the day:
    the listing starts and stops there instead of reading the whole bucket."""
    start = f"{since:%Y/%m/%d}/" if since else None
    end = f"{until + timedelta(days=1):%Y/%m/%d}/" if until else None
    wanted = digits(number)
    for blob in client.list_blobs(bucket, start_offset=start, end_offset=end):
        match = RECORDING_NAME.match(blob.name)
        if match is None:
            continue
        recording = Recording(bucket, blob.name, blob.size or 0, dict(blob.metadata or {}))
        if wanted and wanted not in (
            digits(recording.metadata.get("from", "")),
            digits(recording.metadata.get("to", "")),
        ):
            continue
        if call_id and call_id not in (recording.call_id, match["stem"]):
            continue
        yield recording


def client_or_exit() -> storage.Client:
    """A client on the user's application-default login; without one, say how to get it and exit."""
    try:
        return storage.Client()
    except DefaultCredentialsError:
        sys.exit("no Google credentials for Cloud Storage: run 'gcloud auth application-default login'")


def download(client: storage.Client, recording: Recording, directory: Path) -> Path:
    """The WAV, and its metadata beside it as JSON (as the local store keeps them)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / recording.name.rsplit("/", 1)[-1]
    client.bucket(recording.bucket).blob(recording.name).download_to_filename(str(target))
    target.with_suffix(".json").write_text(json.dumps(recording.metadata, indent=2, sort_keys=True) + "\n")
    return target


def table(recordings: list[Recording]) -> str:
    rows = [[*COLUMNS, "object"]]
    rows += [[r.metadata.get(column, "") for column in COLUMNS] + [r.uri] for r in recordings]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-11-23, not {text!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ops.recordings", description=__doc__)
    bucket = os.environ.get("RECORDINGS_BUCKET", "")
    parser.add_argument(
        "--bucket", default=bucket, required=not bucket, help="the recordings bucket (make recordings sets it)"
    )
    parser.add_argument("--since", type=_day, help="first UTC day, YYYY-MM-DD")
    parser.add_argument("--until", type=_day, help="last UTC day, YYYY-MM-DD (included)")
    parser.add_argument("--number", default="", help="only calls from or to this number (digits compared)")
    parser.add_argument("--call-id", default="", help="only this call")
    parser.add_argument("--json", action="store_true", help="one JSON object per recording instead of a table")
    parser.add_argument("--download", type=Path, metavar="DIR", help="download the one matching recording into DIR")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, client: Any = None) -> int:
    args = parse_args(argv)
    client = client or client_or_exit()
    found = sorted(
        find(client, args.bucket, since=args.since, until=args.until, number=args.number, call_id=args.call_id),
        key=lambda recording: (recording.metadata.get("started_at", ""), recording.name),  # oldest first
    )
    if args.download:
        if len(found) != 1:
            print(f"{len(found)} recordings match: narrow it to one (--call-id) to download it", file=sys.stderr)
            return 1
        print(download(client, found[0], args.download))
        return 0
    if args.json:
        for recording in found:
            print(json.dumps({"object": recording.uri, "size": recording.size, **recording.metadata}, sort_keys=True))
    elif found:
        print(table(found))
    else:
        print("no recordings match", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
