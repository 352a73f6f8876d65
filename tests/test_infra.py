"""Offline checks of infra/, the container and `make deploy`: no cloud is reachable here, so the deployment
must be right by construction. Terraform is read with python-hcl2; checkov scans it for security."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import hcl2
import pytest
from conftest import free_port, run, wait_for

import devstack
from callsim import vonage
from callsim.audio import read_wav, sample

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"


def unquote(value: Any) -> Any:
    """python-hcl2 keeps HCL's quotes on keys and strings, and marks blocks: give plain Python values."""
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def terraform() -> dict[str, list[Any]]:
    merged: dict[str, list[Any]] = {}
    for path in sorted(INFRA.glob("*.tf")):
        with path.open() as f:
            for kind, items in unquote(hcl2.load(f)).items():
                merged.setdefault(kind, []).extend(items)
    return merged


TF = terraform()


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for item in TF["resource"] if kind in item for name, body in item[kind].items()}


def variables() -> dict[str, dict[str, Any]]:
    return {name: body for item in TF["variable"] for name, body in item.items()}


def env_names_read(*files: str) -> set[str]:
    """Every NAME the code reads: env.get("NAME"), os.environ.get("NAME"), or a parser called as f(env, "NAME")."""
    pattern = re.compile(r'\benv(?:iron)?(?:\.get\(|,)\s*"([A-Z][A-Z0-9_]+)"')
    return {name for file in files for name in pattern.findall((ROOT / file).read_text())}


# Read by the code, deliberately not set by Terraform.
LOCAL_ONLY = {
    "RECORDINGS_DIR": "used only when no bucket is set",
    "HOST": "the default, 0.0.0.0, is what Cloud Run needs",
    "PORT": "Cloud Run sets it itself (and rejects it in the template)",
    # Not yet wired: it would be the function's Secret Manager secret, readable by the recorder's account too.
    "TWILIO_AUTH_TOKEN": "not passed to the recorder by Terraform yet (README: Security)",
}


def test_terraform_fmt() -> None:
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not installed")
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-diff", "-recursive", str(INFRA)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_variable_is_declared_typed_described_validated_and_documented() -> None:
    declared = variables()
    text = "\n".join(path.read_text() for path in INFRA.glob("*.tf"))
    referenced = set(re.findall(r"\bvar\.([a-z_]+)", text))
    assert referenced == set(declared), "referenced but not declared, or declared but unused"
    readme = (ROOT / "README.md").read_text()
    for name, body in declared.items():
        assert body.get("description") and body.get("type"), name
        if name not in ("versioning",):  # a bool needs no validation
            assert body.get("validation"), f"{name} has no validation"
        assert f"| `{name}` |" in readme, f"{name} is missing from README's Terraform variables table"


def test_the_function_entry_point_and_runtime_match_the_code() -> None:
    [function] = resources("google_cloudfunctions2_function").values()
    build = function["build_config"][0]
    main = ast.parse((ROOT / "functions" / "main.py").read_text())
    http_functions = {
        node.name
        for node in main.body
        if isinstance(node, ast.FunctionDef)
        and any(ast.unparse(d) == "functions_framework.http" for d in node.decorator_list)
    }
    assert build["entry_point"] in http_functions
    runtime = re.fullmatch(r"python3(\d+)", build["runtime"])
    assert runtime and 11 <= int(runtime[1]) <= 13  # what pyproject allows and gen2 functions offer
    assert build["source"][0]["storage_source"][0]["object"] == "${google_storage_bucket_object.function.name}"
    [obj] = resources("google_storage_bucket_object").values()
    assert "output_md5" in obj["name"]  # a code change uploads a new object, which redeploys


def test_every_env_var_the_code_reads_is_set_by_terraform_and_back() -> None:
    [service] = resources("google_cloud_run_v2_service").values()
    container = service["template"][0]["containers"][0]
    [dynamic] = [block["env"] for block in container["dynamic"] if "env" in block]
    assert dynamic["for_each"] == "${local.recorder_env}"
    locals_ = {name: value for block in TF["locals"] for name, value in block.items()}
    recorder_set = {env["name"] for env in container["env"]} | set(locals_["recorder_env"])
    recorder_read = env_names_read("recorder/recorder/settings.py", "recorder/gunicorn.conf.py")
    assert recorder_read - set(LOCAL_ONLY) == recorder_set

    [function] = resources("google_cloudfunctions2_function").values()
    config = function["service_config"][0]
    function_set = set(config["environment_variables"]) | {s["key"] for s in config["secret_environment_variables"]}
    [optional] = [block["secret_environment_variables"] for block in config["dynamic"]]
    assert optional["for_each"] == "${local.webhook_secret_names}"
    locals_ = {name: value for block in TF["locals"] for name, value in block.items()}
    function_set |= set(locals_["webhook_secret_values"])
    assert env_names_read("functions/answerer/settings.py") == function_set

    readme = (ROOT / "README.md").read_text()
    for name in recorder_read | function_set:
        assert f"`{name}`" in readme, f"{name} is missing from README's configuration table"


def test_the_recorder_lives_as_long_as_cloud_run_allows_and_probes_healthz() -> None:
    [service] = resources("google_cloud_run_v2_service").values()
    template = service["template"][0]
    assert template["timeout"] == "3600s"
    assert template["execution_environment"] == "EXECUTION_ENVIRONMENT_GEN2"
    container = template["containers"][0]
    assert container["startup_probe"][0]["http_get"][0]["path"] == "/healthz"
    assert container["liveness_probe"][0]["http_get"][0]["path"] == "/healthz"
    secret = next(env for env in container["env"] if env["name"] == "RECORDER_SECRET")
    assert "value" not in secret and secret["value_source"][0]["secret_key_ref"]  # from Secret Manager


def test_the_buckets_are_private() -> None:
    for name, bucket in resources("google_storage_bucket").items():
        assert bucket["uniform_bucket_level_access"] is True, name
        assert bucket["public_access_prevention"] == "enforced", name
    assert resources("google_storage_bucket")["recordings"]["force_destroy"] is False


def _expand(body: dict[str, Any], field: str) -> list[str]:
    """An IAM member resource's role or member, expanded over its for_each."""
    value = body[field]
    if value != "${each.value}":
        return [value]
    each = body["for_each"]
    if isinstance(each, dict):
        return list(each.values())
    return re.findall(r'"([^"]+)"', each)


def test_service_accounts_hold_only_the_roles_they_need() -> None:
    grants: set[tuple[str, str, str]] = set()
    for item in TF["resource"]:
        for kind, named in item.items():
            if kind.endswith("_iam_member"):
                for body in named.values():
                    target = body.get("bucket") or body.get("secret_id") or body.get("name") or body.get("project")
                    grants |= {
                        (member, role, target) for member in _expand(body, "member") for role in _expand(body, "role")
                    }
    assert {kind for item in TF["resource"] for kind in item if "iam" in kind and not kind.endswith("_member")} == set()
    assert grants == {
        (
            "${google_service_account.recorder.member}",
            "roles/storage.objectCreator",
            "${google_storage_bucket.recordings.name}",
        ),
        (
            "${google_service_account.recorder.member}",
            "roles/secretmanager.secretAccessor",
            "${google_secret_manager_secret.recorder.id}",
        ),
        (
            "${google_service_account.function.member}",
            "roles/secretmanager.secretAccessor",
            "${google_secret_manager_secret.recorder.id}",
        ),
        (
            "${google_service_account.function.member}",
            "roles/secretmanager.secretAccessor",
            "${google_secret_manager_secret.webhook[each.key].id}",
        ),
        ("${google_service_account.build.member}", "roles/logging.logWriter", "${var.project}"),
        ("${google_service_account.build.member}", "roles/artifactregistry.writer", "${var.project}"),
        (
            "${google_service_account.build.member}",
            "roles/storage.objectViewer",
            "${google_storage_bucket.sources.name}",
        ),
        ("allUsers", "roles/run.invoker", "${google_cloud_run_v2_service.recorder.name}"),
        ("allUsers", "roles/run.invoker", "${google_cloudfunctions2_function.webhook.name}"),
    }


def test_outputs_give_each_providers_urls() -> None:
    outputs = {name for item in TF["output"] for name in item}
    assert {
        "vonage_answer_url",
        "vonage_event_url",
        "twilio_answer_url",
        "voxology_answer_url",
        "recorder_url",
        "bucket",
        "bucket_console_url",
    } <= outputs


def test_checkov_finds_nothing_and_every_skip_says_why() -> None:
    checkov = os.environ.get("CHECKOV") or str(ROOT / ".venv-checkov" / "bin" / "checkov")
    if not Path(checkov).exists():
        pytest.skip("checkov is installed by `make test` (its own virtualenv, .venv-checkov)")
    result = subprocess.run(
        [checkov, "-d", str(INFRA), "--framework", "terraform", "--skip-download", "--compact", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    assert (summary["failed"], summary["parsing_errors"]) == (0, 0), result.stdout[-3000:]
    assert summary["passed"] > 10
    text = "\n".join(path.read_text() for path in INFRA.glob("*.tf"))
    skips = re.findall(r"checkov:skip=(\S+?)(:.*)?$", text, flags=re.MULTILINE)
    assert len(skips) == summary["skipped"]
    assert all(reason and len(reason.strip(": ")) > 20 for _, reason in skips)


def dockerfile_command() -> list[str]:
    match = re.search(r"^CMD (\[.*\])$", (ROOT / "recorder" / "Dockerfile").read_text(), flags=re.MULTILINE)
    assert match, "the Dockerfile has no exec-form CMD"
    command: list[str] = json.loads(match[1])
    return command


def test_the_container_is_plain() -> None:
    dockerfile = (ROOT / "recorder" / "Dockerfile").read_text()
    assert "PYTHONUNBUFFERED=1" in dockerfile
    assert re.search(r"^USER (?!root|0\b)\S+", dockerfile, flags=re.MULTILINE)
    assert dockerfile_command()[0] == "gunicorn"
    for line in (ROOT / "recorder" / "requirements.txt").read_text().splitlines():
        assert not line.strip() or line.startswith("#") or "==" in line, f"unpinned: {line}"


def test_the_containers_exact_command_line_serves_healthz_and_a_call(tmp_path: Path) -> None:
    """No Docker engine runs here: run the image's CMD from recorder/ (the image's WORKDIR holds the same files)."""
    command = [sys.executable, "-m", *dockerfile_command()]
    recorder_port, function_port = free_port(), free_port()
    env = devstack.stack_env(
        function_port, recorder_port, {"RECORDINGS_DIR": str(tmp_path), "SPOOL_DIR": str(tmp_path)}
    )
    with (tmp_path / "recorder.log").open("wb") as log:
        processes = [
            subprocess.Popen(command, cwd=ROOT / "recorder", env=env, stdout=log, stderr=log),
            devstack.start_function(function_port, env, log),
        ]
        try:
            devstack.wait_until_listening(recorder_port, processes[0])
            devstack.wait_until_listening(function_port, processes[1])
            with urllib.request.urlopen(f"http://127.0.0.1:{recorder_port}/healthz", timeout=5) as response:
                assert response.read() == b"ok"
            audio = read_wav(sample(16000))
            result = run(vonage.call(f"http://127.0.0.1:{function_port}/vonage/answer", audio, speed=0))
            stored = wait_for(lambda: list(tmp_path.glob(f"*/*/*/{result.call_id}.wav")), what="the recording")
            assert stored[0].stat().st_size == 44 + len(audio.data)
        finally:
            devstack.stop(processes)
