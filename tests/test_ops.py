"""`make smoke` and `make recordings` offline: the same code paths as against a deployment, with the real function
and recorder (tests/conftest.py) for the deployed URL and fake-gcs-server for the bucket."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.stack import BUCKET, Stack, running_stack

from callsim.__main__ import PROVIDERS
from callsim.audio import read_wav, sample
from devstack import GcsEmulator
from ops import recordings

ROOT = Path(__file__).resolve().parents[1]


def wav_bytes(rate: int = 8000, seconds: float = 1.0) -> bytes:
    pcm = read_wav(sample(rate)).data[: int(rate * seconds) * 2]
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return out.getvalue()


# name -> metadata, as the recorder stores them (README, What gets stored); two objects are not recordings.
OBJECTS: dict[str, dict[str, str]] = {
    "2026/11/20/call-a.wav": {"provider": "vonage", "call_id": "call-a", "from": "15550100001", "to": "15550100002"},
    "2026/11/23/CA0001.wav": {"provider": "twilio", "call_id": "CA0001", "from": "+15550100003", "to": "+15550100002"},
    "2026/11/23/77_123.wav": {
        "provider": "voxology",
        "call_id": "77@123",
        "from": "+17145551212",
        "to": "+1 949 555 1212",
    },
    "2026/12/01/call-d.wav": {"provider": "vonage", "call_id": "call-d", "from": "15550100001", "to": "15550100009"},
    ".parts/call-e/000001.seg": {"call_id": "call-e"},
    "2026/11/23/notes.txt": {},
}


@pytest.fixture(scope="module")
def bucket(gcs: GcsEmulator) -> Iterator[tuple[Any, str]]:
    """A bucket of its own, so the other tests' calls do not show up in the listings."""
    client = gcs.client()
    name = f"ops-{uuid.uuid4().hex[:8]}"
    created = client.create_bucket(name)
    audio = wav_bytes()
    for object_name, metadata in OBJECTS.items():
        blob = created.blob(object_name)
        blob.metadata = (
            {**metadata, "started_at": object_name[:10].replace("/", "-") + "T10:00:00Z"} if metadata else None
        )
        blob.metadata = blob.metadata and {**blob.metadata, "duration_s": "1.00"}
        blob.upload_from_string(audio, content_type="audio/wav")
    yield client, name


def listed(capsys: pytest.CaptureFixture[str], client: Any, name: str, *args: str) -> list[str]:
    assert recordings.main(["--bucket", name, "--json", *args], client=client) == 0
    return [json.loads(line)["call_id"] for line in capsys.readouterr().out.splitlines()]


def test_recordings_lists_only_recordings_oldest_first(
    bucket: tuple[Any, str], capsys: pytest.CaptureFixture[str]
) -> None:
    client, name = bucket
    assert listed(capsys, client, name) == ["call-a", "77@123", "CA0001", "call-d"]
    assert recordings.main(["--bucket", name], client=client) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["started_at", "provider", "from", "to", "duration_s", "object"]
    assert lines[1].split() == [
        "2026-11-20T10:00:00Z",
        "vonage",
        "15550100001",
        "15550100002",
        "1.00",
        f"gs://{name}/2026/11/20/call-a.wav",
    ]


def test_recordings_filter_by_date_number_and_call_id(
    bucket: tuple[Any, str], capsys: pytest.CaptureFixture[str]
) -> None:
    client, name = bucket
    assert listed(capsys, client, name, "--since", "2026-11-21", "--until", "2026-11-23") == ["77@123", "CA0001"]
    assert listed(capsys, client, name, "--until", "2026-11-22") == ["call-a"]
    assert listed(capsys, client, name, "--since", "2026-11-24") == ["call-d"]
    # Digits compared: the same number in any of the forms providers write it, as caller or callee.
    assert listed(capsys, client, name, "--number", "+1 555 010 0002") == ["call-a", "CA0001"]
    assert listed(capsys, client, name, "--number", "19495551212") == ["77@123"]
    assert listed(capsys, client, name, "--number", "15550100001", "--since", "2026-11-30") == ["call-d"]
    # The call id as the provider sent it, or as the object is named.
    assert listed(capsys, client, name, "--call-id", "77@123") == ["77@123"]
    assert listed(capsys, client, name, "--call-id", "77_123") == ["77@123"]
    assert listed(capsys, client, name, "--call-id", "nothing-like-it") == []


def test_recordings_download_one_with_its_metadata(
    bucket: tuple[Any, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    client, name = bucket
    assert recordings.main(["--bucket", name, "--call-id", "CA0001", "--download", str(tmp_path)], client=client) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == tmp_path / "CA0001.wav"
    assert path.read_bytes() == wav_bytes()
    assert json.loads(path.with_suffix(".json").read_text())["provider"] == "twilio"
    # Two match: nothing is downloaded, and it says how to narrow it.
    assert (
        recordings.main(["--bucket", name, "--number", "15550100002", "--download", str(tmp_path / "x")], client=client)
        == 1
    )
    assert "2 recordings match" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.fixture(scope="module")
def stack(gcs: GcsEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("smoke-stack"), gcs) as running:
        yield running


def smoke(stack: Stack, gcs: GcsEmulator, *args: str, bucket: str = BUCKET) -> subprocess.CompletedProcess[str]:
    """`make smoke`'s command line, with the local function's URL where the deployed one would be."""
    function_url = stack.answer_url().rsplit("/", 2)[0]
    return subprocess.run(
        [sys.executable, "-m", "ops.smoke", "--function-url", function_url, "--bucket", bucket, "--speed", "0", *args],
        cwd=ROOT,
        env={**os.environ, "STORAGE_EMULATOR_HOST": gcs.url},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_smoke_places_a_call_per_provider_and_shows_where_each_landed(stack: Stack, gcs: GcsEmulator) -> None:
    result = smoke(stack, gcs)
    assert result.returncode == 0, result.stdout + result.stderr
    blocks: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        if not line.startswith(" ") and ": " in line:
            provider, _, rest = line.partition(": ")
            blocks[provider] = [rest]
        elif line.startswith("    "):
            blocks[list(blocks)[-1]].append(line.strip())
    assert set(PROVIDERS) <= set(blocks), result.stdout
    for provider in PROVIDERS:
        uri, *metadata = blocks[provider]
        assert uri.startswith(f"gs://{BUCKET}/"), uri
        fields = dict(entry.split(": ", 1) for entry in metadata)
        # The object it names is that call's recording, and what it prints is that recording's metadata.
        recording = stack.stored(fields["call_id"])
        assert f"gs://{BUCKET}/{recording.name}" == uri.split(" ")[0]
        assert fields == recording.metadata
        assert len(recording.pcm) > 0
    call_ids = [dict(entry.split(": ", 1) for entry in blocks[p][1:])["call_id"] for p in PROVIDERS]
    assert len(set(call_ids)) == len(PROVIDERS)  # one call each
    assert f"{len(PROVIDERS)} of {len(PROVIDERS)} calls recorded" in result.stdout


@pytest.mark.slow
def test_smoke_skips_providers_whose_webhooks_are_verified(stack: Stack, gcs: GcsEmulator) -> None:
    result = smoke(stack, gcs, "--providers", "vonage,twilio", "--verified", '["twilio"]')
    assert result.returncode == 0, result.stdout + result.stderr
    assert "twilio: skipped, the function verifies its webhook signatures" in result.stdout
    assert "1 of 1 calls recorded" in result.stdout
    result = smoke(stack, gcs, "--providers", "twilio", "--verified", '["twilio"]')
    assert result.returncode == 1 and "no call placed" in result.stdout


@pytest.mark.slow
def test_smoke_fails_when_the_recording_does_not_land(stack: Stack, gcs: GcsEmulator) -> None:
    """The check can fail: the recorder stores into its own bucket, the smoke test looks in another."""
    other = f"empty-{uuid.uuid4().hex[:8]}"
    gcs.client().create_bucket(other)
    result = smoke(stack, gcs, "--providers", "vonage", "--timeout", "3", bucket=other)
    assert result.returncode == 1
    assert f"no recording landed in gs://{other} within 3 s" in result.stdout
    assert "0 of 1 calls recorded" in result.stdout


def test_smoke_names_an_unknown_provider() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ops.smoke",
            "--function-url",
            "http://127.0.0.1:9",
            "--bucket",
            "b",
            "--providers",
            "nope",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "unknown provider nope" in result.stderr
