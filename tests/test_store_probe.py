"""Storage problems show at start-up, not per call (issue 13): locally one line naming the fix and exit 1; on
Cloud Run one ERROR line, and the health check answers 503 with the reason until storage works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support.stack import wait_for

import devstack
from devstack import GcsEmulator, free_port

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def no_credentials_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """A machine with no Google Cloud credentials: an empty home and gcloud config, no emulator. NO_GCE_CHECK
    keeps google-auth from probing for a metadata server (this is not a Compute Engine machine)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GOOGLE_", "STORAGE_EMULATOR"))}
    env.update(
        HOME=str(tmp_path / "home"),
        CLOUDSDK_CONFIG=str(tmp_path / "gcloud"),
        NO_GCE_CHECK="true",
        GCE_METADATA_HOST="127.0.0.1:9",  # and should it probe anyway, it knocks on a closed local port
        GCE_METADATA_IP="127.0.0.1:9",
        FUNCTION_PORT=str(free_port()),
        RECORDER_PORT=str(free_port()),
        SPOOL_DIR=str(tmp_path / "spool"),
        RECORDINGS_BUCKET="my-recordings",
        **overrides,
    )
    env.pop("RECORDER_SECRET", None)
    return env


def test_make_run_with_a_bucket_and_no_credentials_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    env = no_credentials_env(tmp_path)
    started = subprocess.run(
        [sys.executable, "-m", "devstack", "run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert started.returncode == 1
    assert "Traceback" not in started.stderr + started.stdout
    [line] = started.stderr.splitlines()
    assert "RECORDINGS_BUCKET=my-recordings" in line
    assert "gcloud auth application-default login" in line and "STORAGE_EMULATOR_HOST" in line


def test_the_container_command_refuses_to_start_without_credentials(tmp_path: Path) -> None:
    env = {**no_credentials_env(tmp_path), "RECORDER_SECRET": devstack.LOCAL_SECRET, "PORT": str(free_port())}
    started = subprocess.run(
        devstack.recorder_command(), cwd=ROOT / "recorder", env=env, capture_output=True, text=True, timeout=60
    )
    output = started.stdout + started.stderr
    assert started.returncode == 1
    assert "Traceback" not in output
    assert output.count("gcloud auth application-default login") == 1


def healthz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_on_cloud_run_the_health_check_says_what_is_wrong_until_storage_works(tmp_path: Path) -> None:
    with GcsEmulator(buckets=("some-other-bucket",)) as gcs:
        port = free_port()
        env = devstack.stack_env(
            0,
            port,
            {
                "K_SERVICE": "callrec-recorder",  # Cloud Run sets it: the recorder starts and reports instead
                "RECORDINGS_BUCKET": "not-created-yet",
                "STORAGE_EMULATOR_HOST": gcs.url,
                "SPOOL_DIR": str(tmp_path / "spool"),
            },
        )
        log_path = tmp_path / "recorder.log"
        with log_path.open("wb") as log:
            recorder = devstack.start_recorder(env, log)
            try:
                devstack.wait_until_listening(port, recorder)
                status, body = healthz(port)
                assert status == 503 and "RECORDINGS_BUCKET=not-created-yet: no such bucket" in body
                entries = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
                errors = [e for e in entries if e["severity"] == "ERROR"]
                assert len(errors) == 1 and "storage is not usable" in errors[0]["message"]

                gcs.client().create_bucket("not-created-yet")
                started = time.monotonic()
                wait_for(lambda: healthz(port) == (200, "ok"), timeout=30, what="the health check to recover")
                assert time.monotonic() - started < 15  # re-probed every 10 s while unusable
            finally:
                devstack.stop([recorder])
