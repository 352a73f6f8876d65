"""`make deploy` with stand-ins for gcloud and terraform on PATH: the GCP control plane cannot run here, so the
stubs record what they are asked and the test checks the order, the arguments, and each prerequisite's message."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
case "$*" in
  *print-access-token*) [ -z "$NOT_LOGGED_IN" ] ;;
  *) exit 0 ;;
esac
"""


@pytest.fixture
def stubs(tmp_path: Path) -> tuple[str, Path]:
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for tool in ("gcloud", "terraform"):
        stub = bin_dir / tool
        stub.write_text(STUB.format(log=log))
        stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    system = "/usr/bin:/bin"
    return f"{bin_dir}:{system}", log


def test_each_missing_prerequisite_has_its_own_message(stubs: tuple[str, Path], tmp_path: Path) -> None:
    path, _ = stubs
    stub_dir = Path(path.split(":")[0])
    only_gcloud = tmp_path / "only-gcloud"  # no terraform anywhere on this PATH
    only_gcloud.mkdir()
    (only_gcloud / "gcloud").symlink_to(stub_dir / "gcloud")
    cases = [
        (str(tmp_path), [], {}, "gcloud is not installed"),
        (str(only_gcloud), [], {}, "terraform is not installed"),
        (path, [], {}, "PROJECT is not set"),
        (path, ["PROJECT=my-project"], {"NOT_LOGGED_IN": "1"}, "gcloud is not logged in"),
    ]
    for search_path, args, env, message in cases:
        result = subprocess.run(
            ["/usr/bin/make", "-s", "--no-print-directory", "deploy", *args],
            cwd=ROOT,
            env={"PATH": search_path, "HOME": "/tmp", **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        assert message in result.stdout + result.stderr, (message, result.stdout, result.stderr)


def test_deploy_enables_apis_builds_the_commit_and_applies(stubs: tuple[str, Path]) -> None:
    path, log = stubs
    result = subprocess.run(
        [
            "/usr/bin/make",
            "-s",
            "--no-print-directory",
            "deploy",
            "PROJECT=my-project",
            "REGION=europe-west1",
            "AUTO_APPROVE=1",
        ],
        cwd=ROOT,
        env={"PATH": path, "HOME": "/tmp"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    image = f"europe-west1-docker.pkg.dev/my-project/callrec/recorder:{commit}"
    calls = [line for line in log.read_text().splitlines() if "print-access-token" not in line]
    tf_vars = f"-var project=my-project -var region=europe-west1 -var name_prefix=callrec -var image={image}"
    assert calls == [
        "gcloud services enable artifactregistry.googleapis.com cloudbuild.googleapis.com "
        "cloudfunctions.googleapis.com run.googleapis.com secretmanager.googleapis.com storage.googleapis.com "
        "--project my-project",
        "terraform -chdir=infra init -input=false",
        f"terraform -chdir=infra apply -input=false -auto-approve {tf_vars} "
        "-target=google_artifact_registry_repository.recorder",
        f"gcloud builds submit recorder --project my-project --tag {image}",
        f"terraform -chdir=infra apply -input=false -auto-approve {tf_vars}",
        "terraform -chdir=infra output",
    ]
    assert "paste the answer URL" in result.stdout
