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
from support.stack import run, wait_for

import devstack
from callsim import vonage
from callsim.audio import read_wav, sample
from devstack import free_port

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"


def unquote(value: Any) -> Any:
    """python-hcl2 keeps HCL's quotes on keys and strings, and marks blocks: give plain Python values."""
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if not k.startswith("__")}
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
    "K_SERVICE": "Cloud Run sets it itself: the recorder reports a storage problem instead of exiting there",
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
    dynamic, secrets, twilio = [block["env"] for block in container["dynamic"] if "env" in block]
    assert (dynamic["for_each"], secrets["for_each"], twilio["for_each"]) == (
        "${local.recorder_env}",
        "${local.stream_secret_names}",
        "${local.recorder_webhook_secret_names}",  # TWILIO_AUTH_TOKEN: the upgrade's signature check
    )
    locals_ = {name: value for block in TF["locals"] for name, value in block.items()}
    recorder_set = {env["name"] for env in container["env"]} | set(locals_["recorder_env"])
    recorder_set |= set(locals_["stream_secret_values"]) | {"TWILIO_AUTH_TOKEN"}
    recorder_read = env_names_read("recorder/recorder/settings.py", "recorder/gunicorn.conf.py")
    assert recorder_read - set(LOCAL_ONLY) == recorder_set

    [function] = resources("google_cloudfunctions2_function").values()
    config = function["service_config"][0]
    function_set = set(config["environment_variables"]) | {s["key"] for s in config["secret_environment_variables"]}
    [optional] = [block["secret_environment_variables"] for block in config["dynamic"]]
    assert optional["for_each"] == "${local.webhook_secret_names}"
    locals_ = {name: value for block in TF["locals"] for name, value in block.items()}
    function_set |= set(locals_["webhook_secret_values"])
    assert env_names_read("functions/webhook/settings.py") == function_set

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
    grants: set[tuple[str, str, str, str]] = set()
    for item in TF["resource"]:
        for kind, named in item.items():
            if kind.endswith("_iam_member"):
                for body in named.values():
                    target = (
                        body.get("bucket")
                        or body.get("secret_id")
                        or body.get("crypto_key_id")
                        or body.get("name")
                        or body.get("project")
                    )
                    # python-hcl2 keeps the string's escapes
                    condition = body["condition"][0]["expression"].replace('\\"', '"') if "condition" in body else ""
                    grants |= {
                        (member, role, target, condition)
                        for member in _expand(body, "member")
                        for role in _expand(body, "role")
                    }
    assert {kind for item in TF["resource"] for kind in item if "iam" in kind and not kind.endswith("_member")} == set()
    recorder, function, build = (
        f"${{google_service_account.{name}.member}}" for name in ("recorder", "function", "build")
    )
    recordings = "${google_storage_bucket.recordings.name}"
    parts = f'resource.name.startsWith("projects/_/buckets/{recordings}/objects/${{local.parts_prefix}}")'
    assert grants == {
        # Creates recordings and parts; reads, renews and deletes parts only; lists names (never reads audio).
        (recorder, "roles/storage.objectCreator", recordings, ""),
        (recorder, "roles/storage.objectUser", recordings, parts),
        (recorder, "roles/storage.legacyBucketReader", recordings, ""),
        (recorder, "roles/secretmanager.secretAccessor", "${google_secret_manager_secret.recorder.id}", ""),
        (function, "roles/secretmanager.secretAccessor", "${google_secret_manager_secret.recorder.id}", ""),
        (function, "roles/secretmanager.secretAccessor", "${google_secret_manager_secret.webhook[each.key].id}", ""),
        # The AudioHook and Asterisk upgrade credentials, when set.
        (recorder, "roles/secretmanager.secretAccessor", "${google_secret_manager_secret.stream[each.key].id}", ""),
        # Twilio's auth token, when set: the recorder checks X-Twilio-Signature on the upgrade.
        (recorder, "roles/secretmanager.secretAccessor", "${google_secret_manager_secret.webhook[each.key].id}", ""),
        (build, "roles/logging.logWriter", "${var.project}", ""),
        (build, "roles/artifactregistry.writer", "${var.project}", ""),
        # A1: the function's build reads its source from Google's gcf-v2-sources-* bucket, made on first deploy.
        (
            build,
            "roles/storage.objectViewer",
            "${var.project}",
            'resource.name.startsWith("projects/_/buckets/gcf-v2-sources-")',
        ),
        # The recorder build stages its source in, and logs to, our sources bucket.
        (build, "roles/storage.objectAdmin", "${google_storage_bucket.sources.name}", ""),
        # A2: Cloud Storage's own agent encrypts with the CMEK key.
        (
            "serviceAccount:${data.google_storage_project_service_account.gcs[0].email_address}",
            "roles/cloudkms.cryptoKeyEncrypterDecrypter",
            "${var.kms_key_name}",
            "",
        ),
        # B3: the function alone is public by IAM (README, Prerequisites: Domain Restricted Sharing).
        ("allUsers", "roles/run.invoker", "${google_cloudfunctions2_function.webhook.name}", ""),
    }
    [kms] = resources("google_kms_crypto_key_iam_member").values()
    assert kms["count"] == '${var.kms_key_name != "" ? 1 : 0}'


def test_the_recorder_is_public_without_an_iam_binding() -> None:
    """B3: Domain Restricted Sharing refuses allUsers; Cloud Run can skip the invoker check instead."""
    [service] = resources("google_cloud_run_v2_service").values()
    assert service["invoker_iam_disabled"] is True
    public = [
        body for body in resources("google_cloud_run_v2_service_iam_member").values() if "recorder" in body["name"]
    ]
    assert public == []


def test_apis_are_enabled_before_anything_uses_them_and_match_make_deploy() -> None:
    """B2: the IAM and Resource Manager APIs are off in a new project."""
    locals_ = {name: value for block in TF["locals"] for name, value in block.items()}
    assert {"iam.googleapis.com", "cloudresourcemanager.googleapis.com"} <= set(locals_["apis"])
    makefile = (ROOT / "Makefile").read_text()
    match = re.search(r"^APIS\s*:=((?:.*\\\n)*.*)$", makefile, flags=re.MULTILINE)
    assert match and sorted(match[1].replace("\\", " ").split()) == sorted(locals_["apis"])
    for name, account in resources("google_service_account").items():
        assert "${google_project_service.enabled}" in account.get("depends_on", []), name


def depends_on(body: dict[str, Any]) -> list[str]:
    return list(body.get("depends_on", []))


def test_first_create_waits_for_iam_propagation_and_the_secret_versions() -> None:
    """A1, B4, B5: grants reach every service only after up to minutes; the revisions must find their versions."""
    sleeps = resources("time_sleep")
    for name in ("build_grants", "service_grants"):
        assert int(sleeps[name]["create_duration"].rstrip("s")) >= 60, name
    build_triggers = sleeps["build_grants"]["triggers"]["grants"]
    for grant in ("google_project_iam_member.build", "build_reads_function_sources", "build_uses_sources"):
        assert grant in build_triggers
    service_triggers = sleeps["service_grants"]["triggers"]["grants"]
    for grant in (
        "accessors",
        "function_reads_webhook_secrets",
        "recorder_creates_recordings",
        "recorder_manages_parts",
    ):
        assert grant in service_triggers
    [function] = resources("google_cloudfunctions2_function").values()
    assert {"${time_sleep.build_grants}", "${time_sleep.service_grants}"} <= set(depends_on(function))
    [service] = resources("google_cloud_run_v2_service").values()
    assert "${time_sleep.service_grants}" in depends_on(service)

    # Pinned versions, never "latest": the reference orders the create, and a rotation rolls new revisions (C3).
    container = service["template"][0]["containers"][0]
    [secret] = [env for env in container["env"] if env["name"] == "RECORDER_SECRET"]
    recorder_version = "${google_secret_manager_secret_version.recorder.version}"
    assert secret["value_source"][0]["secret_key_ref"][0]["version"] == recorder_version
    config = function["service_config"][0]
    assert [s["version"] for s in config["secret_environment_variables"]] == [recorder_version]
    [optional] = [block["secret_environment_variables"] for block in config["dynamic"]]
    webhook_version = "${google_secret_manager_secret_version.webhook[secret_environment_variables.value].version}"
    assert optional["content"][0]["version"] == webhook_version
    for name, version in resources("google_secret_manager_secret_version").items():
        assert version["lifecycle"][0]["create_before_destroy"] is True, name
    text = "\n".join(path.read_text() for path in INFRA.glob("*.tf"))
    assert re.search(r"version\s*=\s*\"latest\"", text) is None


def test_the_function_can_answer_a_burst_and_names_its_project_by_number() -> None:
    """C6: at a fractional vCPU every webhook needs its own instance; C18: the API stores the project number."""
    [function] = resources("google_cloudfunctions2_function").values()
    config = function["service_config"][0]
    assert config["available_cpu"] == "1" and config["max_instance_request_concurrency"] > 1
    secrets = [
        *config["secret_environment_variables"],
        config["dynamic"][0]["secret_environment_variables"]["content"][0],
    ]
    assert {s["project_id"] for s in secrets} == {"${data.google_project.this.number}"}
    [archive] = [item["archive_file"]["function"] for item in TF["data"] if "archive_file" in item]
    assert archive["output_file_mode"] == "0644"  # C11: the same hash from every checkout


def test_cmek_grants_the_storage_agent_before_the_bucket_and_checks_the_keys_region() -> None:
    """A2: a CMEK bucket cannot be created until Cloud Storage's agent may use the key."""
    bucket = resources("google_storage_bucket")["recordings"]
    assert "${google_kms_crypto_key_iam_member.storage_uses_key}" in depends_on(bucket)
    [precondition] = bucket["lifecycle"][0]["precondition"]
    assert "var.kms_key_name" in precondition["condition"] and "var.region" in precondition["condition"]


def _rules(bucket: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Each lifecycle rule as (its for_each, or "" when always present; its condition)."""
    rules = [("", rule["condition"][0]) for rule in bucket.get("lifecycle_rule", [])]
    for block in bucket.get("dynamic", []):
        if "lifecycle_rule" in block:
            rule = block["lifecycle_rule"]
            rules.append((rule["for_each"], rule["content"][0]["condition"][0]))
    return rules


def test_retention_parts_and_soft_delete_delete_what_they_should() -> None:
    """C9: with versioning, the age rule only makes objects noncurrent; parts must not outlive their call."""
    bucket = resources("google_storage_bucket")["recordings"]
    rules = _rules(bucket)
    noncurrent = [(each, c) for each, c in rules if "days_since_noncurrent_time" in c and "matches_prefix" not in c]
    assert (
        len(noncurrent) == 1 and "var.retention_days > 0" in noncurrent[0][0] and "var.versioning" in noncurrent[0][0]
    )
    parts = [(each, c) for each, c in rules if c.get("matches_prefix") == ["${local.parts_prefix}"]]
    assert {each for each, _ in parts} == {"", "${var.versioning ? [1] : []}"}
    assert [c["age"] for each, c in parts if not each] == [7]
    locals_ = {name: value for block in TF["locals"] for name, value in block.items()}
    assert locals_["parts_prefix"] == ".parts/"
    assert bucket["soft_delete_policy"][0]["retention_duration_seconds"] == 0
    # C10: the sources bucket's age rule spares Terraform's own function zip.
    [(_, sources_rule)] = _rules(resources("google_storage_bucket")["sources"])
    assert sources_rule["matches_prefix"] == ["staging/", "build-logs/"]


def _validation_regex(name: str) -> re.Pattern[str]:
    [validation] = variables()[name]["validation"]
    match = re.search(r'regex\("(.+?)", var\.', validation["condition"])
    assert match, validation
    return re.compile(match[1].replace("\\\\", "\\"))


def test_validations_accept_every_real_name_and_refuse_broken_ones() -> None:
    """C15: two-digit region suffixes exist; C16: an Artifact Registry id cannot end with a hyphen."""
    region = _validation_regex("region")
    assert all(region.fullmatch(r) for r in ("us-central1", "europe-west12", "me-central2", "northamerica-south1"))
    assert not any(region.fullmatch(r) for r in ("us-central", "US-central1", "europe-west123"))
    prefix = _validation_regex("name_prefix")
    assert all(prefix.fullmatch(p) for p in ("callrec", "cr", "a-b", "x" * 15))
    assert not any(prefix.fullmatch(p) for p in ("callrec-", "c", "1callrec", "x" * 16, "Callrec"))


def test_instance_cpu_memory_from_segments_and_calls_within_the_request_timeout() -> None:
    """C1/issue 8: uploads, compose and the sweeper run outside requests; memory no longer grows with call length."""
    [service] = resources("google_cloud_run_v2_service").values()
    container = service["template"][0]["containers"][0]
    assert container["resources"][0]["cpu_idle"] is False
    locals_ = {name: value for block in TF["locals"] for name, value in block.items()}
    sizing = " ".join(str(locals_[name]) for name in ("spool_mib_per_call", "recorder_memory_needed"))
    assert "max_call_seconds" not in sizing
    assert "var.segment_seconds" in sizing and "var.recorder_concurrency" in sizing
    assert locals_["upload_buffer_mib"] == "${16 * 8}"
    assert locals_["recorder_env"]["SEGMENT_S"] == "${tostring(var.segment_seconds)}"
    declared = variables()
    assert declared["recorder_concurrency"]["default"] == 250
    assert "var.recorder_concurrency <= 1000" in declared["recorder_concurrency"]["validation"][0]["condition"]
    assert (
        "var.segment_seconds >= 2 && var.segment_seconds <= 60"
        in declared["segment_seconds"]["validation"][0]["condition"]
    )
    # C4: the recorder ends (and stores) a call while Cloud Run still counts its request.
    timeout = int(service["template"][0]["timeout"].rstrip("s"))
    assert declared["max_call_seconds"]["default"] <= timeout - 60
    assert f"var.max_call_seconds <= {timeout - 60}" in declared["max_call_seconds"]["validation"][0]["condition"]


def test_cross_variable_checks_run_before_the_image_build() -> None:
    """C14: make deploy's bootstrap apply plans only its targets, so a check elsewhere would come after the build."""
    makefile = (ROOT / "Makefile").read_text()
    match = re.search(r"^BOOTSTRAP\s*:=(.*)$", makefile, flags=re.MULTILINE)
    assert match
    targets = re.findall(r"-target=(\w+)\.(\w+)", match[1])
    checks = [
        precondition["condition"]
        for kind, name in targets
        for precondition in resources(kind)[name].get("lifecycle", [{}])[0].get("precondition", [])
    ]
    assert "${var.recorder_min_instances <= var.recorder_max_instances}" in checks


def test_readme_lists_the_prerequisites_the_org_policies_and_the_costs() -> None:
    readme = (ROOT / "README.md").read_text()
    for role in ("roles/owner", "roles/iam.serviceAccountUser", "roles/resourcemanager.projectIamAdmin"):
        assert role in readme, role
    for policy in ("iam.allowedPolicyMemberDomains", "iam.automaticIamGrantsForDefaultServiceAccounts"):
        assert policy in readme, policy
    assert "## Costs" in readme or "### Costs" in readme
    # Each answer URL Terraform prints is in the provider steps, so each provider has its instructions.
    steps = readme[readme.index("### Point your number at it") :].split("\n### ")[0]
    for output in {name for item in TF["output"] for name in item if name.endswith("_url") and "answer" in name}:
        assert f"`{output}`" in steps, output
    for provider in ("Vonage", "Twilio", "SignalWire", "Voxology", "Telnyx", "Plivo"):
        assert f"- **{provider}**" in steps, provider


def test_outputs_give_each_providers_urls() -> None:
    outputs = {name for item in TF["output"] for name in item}
    assert {
        "vonage_answer_url",
        "vonage_event_url",
        "twilio_answer_url",
        "voxology_answer_url",
        "telnyx_answer_url",
        "plivo_answer_url",
        "function_url",
        "verified_providers",
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
