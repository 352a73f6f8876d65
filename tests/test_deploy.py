"""`make deploy` with stand-ins for gcloud and terraform on PATH: the GCP control plane cannot run here, so the
stubs record what they are asked and the test checks the order, the arguments, and each prerequisite's message."""

from __future__ import annotations

import json
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

from callsim.__main__ import PROVIDERS
from devstack import GcsEmulator

ROOT = Path(__file__).resolve().parents[1]
DIGEST = "sha256:" + "ab" * 32
NOWHERE = "http://127.0.0.1:9"  # nothing listens on the discard port
# Each stub logs its command line, then answers as gcloud would; the environment switches a failure on.
STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
case "$*" in
  *print-access-token*) [ -z "$NOT_LOGGED_IN" ] ;;
  "projects describe"*) [ -z "$NO_PROJECT" ] ;;
  "billing projects describe"*) [ -z "$BILLING_UNREADABLE" ] && echo "${{BILLING:-True}}" ;;
  "artifacts docker images describe"*) echo "{digest}" ;;
  "-chdir=infra output -raw function_url") printf %s "$FUNCTION_URL" ;;
  "-chdir=infra output -raw bucket") printf %s "$BUCKET" ;;
  "-chdir=infra output -json verified_providers") echo "$VERIFIED" ;;
  *) exit 0 ;;
esac
"""


@pytest.fixture
def stubs(tmp_path: Path) -> tuple[str, Path]:
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for tool in ("gcloud", "terraform"):
        stub = bin_dir / tool
        stub.write_text(STUB.format(log=log, digest=DIGEST))
        stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    system = "/usr/bin:/bin"
    return f"{bin_dir}:{system}", log


def make(target: str, path: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/usr/bin/make", "-s", "--no-print-directory", target, *args],
        cwd=ROOT,
        env={"PATH": path, "HOME": "/tmp", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_each_missing_prerequisite_has_its_own_message(stubs: tuple[str, Path], tmp_path: Path) -> None:
    path, log = stubs
    stub_dir = Path(path.split(":")[0])
    only_gcloud = tmp_path / "only-gcloud"  # no terraform anywhere on this PATH
    only_gcloud.mkdir()
    (only_gcloud / "gcloud").symlink_to(stub_dir / "gcloud")
    project = ["PROJECT=my-project"]
    cases = [
        (str(tmp_path), [], {}, "gcloud is not installed"),
        (str(only_gcloud), [], {}, "terraform is not installed"),
        (path, [], {}, "PROJECT is not set"),
        (path, project, {"NOT_LOGGED_IN": "1"}, "gcloud is not logged in"),
        (path, project, {"NO_PROJECT": "1"}, "project my-project does not exist or your account cannot see it"),
        (path, project, {"BILLING": "False"}, "billing is not enabled on project my-project"),
    ]
    for search_path, args, env, message in cases:
        log.unlink(missing_ok=True)
        result = make("deploy", search_path, *args, **env)
        assert result.returncode != 0
        assert message in result.stdout + result.stderr, (message, result.stdout, result.stderr)
        calls = log.read_text().splitlines() if log.exists() else []
        assert not [call for call in calls if "services enable" in call or call.startswith("terraform")], calls


def test_deploy_bootstraps_the_build_account_builds_as_it_and_applies_the_digest(stubs: tuple[str, Path]) -> None:
    path, log = stubs
    result = make("deploy", path, "PROJECT=my-project", "REGION=europe-west1", "AUTO_APPROVE=1")
    assert result.returncode == 0, result.stdout + result.stderr
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    repo = "europe-west1-docker.pkg.dev/my-project/callrec/recorder"
    tf_vars = "-var project=my-project -var region=europe-west1 -var name_prefix=callrec"
    build_sa = "projects/my-project/serviceAccounts/callrec-build@my-project.iam.gserviceaccount.com"
    assert log.read_text().splitlines() == [
        "gcloud auth print-access-token",
        "gcloud auth application-default print-access-token",
        "gcloud projects describe my-project --format=value(projectId)",
        "gcloud billing projects describe my-project --format=value(billingEnabled)",
        "gcloud services enable artifactregistry.googleapis.com cloudbuild.googleapis.com "
        "cloudfunctions.googleapis.com cloudresourcemanager.googleapis.com iam.googleapis.com run.googleapis.com "
        "secretmanager.googleapis.com storage.googleapis.com --project my-project",
        "terraform -chdir=infra init -input=false",
        # The build account, its grants and their propagation wait exist before the build runs as that account.
        f"terraform -chdir=infra apply -input=false -auto-approve {tf_vars} -var image={repo}:{commit} "
        "-target=google_artifact_registry_repository.recorder -target=time_sleep.build_grants",
        # With its own service account, a build must name where its logs go (Cloud Build refuses it otherwise).
        f"gcloud builds submit recorder --project my-project --tag {repo}:{commit} --service-account {build_sa} "
        "--gcs-source-staging-dir gs://my-project-callrec-sources/staging "
        "--gcs-log-dir gs://my-project-callrec-sources/build-logs",
        f"gcloud artifacts docker images describe {repo}:{commit} --project my-project "
        "--format=value(image_summary.digest)",
        # By digest: a rebuilt -dirty tag is a new image to Terraform as well.
        f"terraform -chdir=infra apply -input=false -auto-approve {tf_vars} -var image={repo}@{DIGEST}",
        "terraform -chdir=infra output",
    ]
    assert "paste the answer URL" in result.stdout
    assert "make smoke" in result.stdout


def test_without_auto_approve_only_the_bootstrap_apply_skips_the_question(stubs: tuple[str, Path]) -> None:
    path, log = stubs
    result = make("deploy", path, "PROJECT=my-project")
    assert result.returncode == 0, result.stdout + result.stderr
    applies = [call for call in log.read_text().splitlines() if " apply " in call]
    assert len(applies) == 2
    assert "-auto-approve" in applies[0] and "-target=" in applies[0]
    assert "-auto-approve" not in applies[1] and "-target=" not in applies[1]


def test_unreadable_billing_warns_and_deploys(stubs: tuple[str, Path]) -> None:
    path, log = stubs
    result = make("deploy", path, "PROJECT=my-project", BILLING_UNREADABLE="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "could not read the billing status of my-project" in result.stdout
    assert any("builds submit" in call for call in log.read_text().splitlines())


def test_a_build_without_a_digest_stops_before_the_apply(stubs: tuple[str, Path], tmp_path: Path) -> None:
    path, log = stubs
    gcloud = Path(path.split(":")[0]) / "gcloud"
    gcloud.write_text(gcloud.read_text().replace(f'echo "{DIGEST}"', "true"))
    result = make("deploy", path, "PROJECT=my-project", "AUTO_APPROVE=1")
    assert result.returncode != 0
    applies = [call for call in log.read_text().splitlines() if " apply " in call]
    assert len(applies) == 1  # the bootstrap only


def test_smoke_takes_the_function_url_bucket_and_verified_providers_from_terraform(stubs: tuple[str, Path]) -> None:
    path, log = stubs
    verified = json.dumps(sorted(PROVIDERS))  # every one verified: nothing is called, each is said to be skipped
    result = make(
        "smoke", path, FUNCTION_URL="http://127.0.0.1:9", BUCKET="b", VERIFIED=verified, STORAGE_EMULATOR_HOST=NOWHERE
    )
    assert result.returncode != 0 and "no call placed" in result.stdout
    for provider in PROVIDERS:
        assert f"{provider}: skipped, the function verifies its webhook signatures" in result.stdout, result.stdout
    assert log.read_text().splitlines() == [
        "terraform -chdir=infra output -raw function_url",
        "terraform -chdir=infra output -raw bucket",
        "terraform -chdir=infra output -json verified_providers",
    ]


def test_recordings_lists_the_bucket_terraform_names(stubs: tuple[str, Path], gcs: GcsEmulator) -> None:
    path, _ = stubs
    bucket = gcs.client().create_bucket(f"deploy-{uuid.uuid4().hex[:8]}")
    blob = bucket.blob("2026/11/23/CA0001.wav")
    blob.metadata = {"provider": "twilio", "call_id": "CA0001", "from": "+15550100003", "to": "+15550100002"}
    blob.upload_from_string(b"RIFF", content_type="audio/wav")
    result = make("recordings", path, "ARGS=--json", BUCKET=bucket.name, STORAGE_EMULATOR_HOST=gcs.url)
    assert result.returncode == 0, result.stdout + result.stderr
    [line] = result.stdout.splitlines()
    assert json.loads(line)["object"] == f"gs://{bucket.name}/2026/11/23/CA0001.wav"


def test_without_google_credentials_the_ops_targets_say_how_to_log_in(stubs: tuple[str, Path]) -> None:
    path, _ = stubs
    no_metadata_server = {"GCE_METADATA_HOST": "127.0.0.1:9", "GCE_METADATA_IP": "127.0.0.1:9"}
    for target in ("recordings", "smoke"):
        result = make(target, path, FUNCTION_URL=NOWHERE, BUCKET="b", VERIFIED="[]", **no_metadata_server)
        assert result.returncode != 0
        assert "run 'gcloud auth application-default login'" in result.stderr, (target, result.stderr)
        assert "Traceback" not in result.stderr
