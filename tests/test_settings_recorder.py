"""The recorder's settings: validated at start-up, each problem naming its setting (defects #13)."""

from __future__ import annotations

import gc
import runpy
import subprocess
from pathlib import Path
from urllib.request import urlopen

import pytest
from support.stack import running_stack

import devstack
from devstack import LOCAL_SECRET, free_port
from recorder.settings import MAX_CALL_SECONDS_RANGE, Settings, SettingsError

BASE = {"RECORDER_SECRET": LOCAL_SECRET}


def test_a_gs_url_is_taken_as_the_bucket_name() -> None:
    assert Settings.from_env({**BASE, "RECORDINGS_BUCKET": "gs://recordings-test/"}).bucket == "recordings-test"


@pytest.mark.parametrize("bucket", ["Recordings", "ab", "my bucket", "gs://x/y", "-leading-dash", "https://b"])
def test_a_bucket_that_is_no_bucket_name_is_refused_by_name(bucket: str) -> None:
    with pytest.raises(SettingsError, match="RECORDINGS_BUCKET must be a bucket name"):
        Settings.from_env({**BASE, "RECORDINGS_BUCKET": bucket})


def test_max_call_seconds_has_one_range() -> None:
    low, high = MAX_CALL_SECONDS_RANGE
    assert Settings.from_env({**BASE, "MAX_CALL_SECONDS": str(high)}).max_call_seconds == high
    for value in (low - 1, high + 1):
        with pytest.raises(SettingsError, match=f"MAX_CALL_SECONDS must be between {low} and {high}"):
            Settings.from_env({**BASE, "MAX_CALL_SECONDS": str(value)})


@pytest.mark.parametrize(("raw", "value"), [("", False), ("false", False), ("0", False), ("true", True), ("1", True)])
def test_allow_unsigned_upgrades_is_a_boolean(raw: str, value: bool) -> None:
    assert Settings.from_env({**BASE, "ALLOW_UNSIGNED_UPGRADES": raw}).allow_unsigned_upgrades is value


def test_allow_unsigned_upgrades_refuses_anything_else() -> None:
    with pytest.raises(SettingsError, match="ALLOW_UNSIGNED_UPGRADES must be true or false"):
        Settings.from_env({**BASE, "ALLOW_UNSIGNED_UPGRADES": "maybe"})


def test_the_recorder_refuses_a_malformed_bucket_at_start_up_naming_it(tmp_path: Path) -> None:
    env = devstack.stack_env(0, free_port(), {"RECORDINGS_BUCKET": "gs://Not A Bucket", "SPOOL_DIR": str(tmp_path)})
    result = subprocess.run(
        devstack.recorder_command(), cwd=devstack.ROOT / "recorder", env=env, capture_output=True, timeout=60
    )
    assert result.returncode != 0
    assert b"RECORDINGS_BUCKET must be a bucket name" in result.stdout + result.stderr


def test_an_empty_grace_period_means_the_default_in_gunicorns_config_too(tmp_path: Path) -> None:
    with running_stack(tmp_path, None, GRACE_PERIOD_S="") as stack:
        with urlopen(f"http://127.0.0.1:{stack.recorder_port}/healthz", timeout=5) as response:
            assert response.read() == b"ok"


def test_the_worker_freezes_what_it_made_while_booting_until_it_exits() -> None:
    """gunicorn.conf.py's post_worker_init: the boot's objects are out of the garbage collector's full
    collections, which otherwise walked them all while every call waited (README: Performance); and worker_exit
    hands them back before the interpreter shuts down (`make run`'s Ctrl-C and `make demo` check that nothing
    is printed then)."""
    config = runpy.run_path(str(devstack.ROOT / "recorder" / "gunicorn.conf.py"))
    assert gc.get_freeze_count() == 0
    try:
        config["post_worker_init"](None)
        assert gc.get_freeze_count() > 0
        config["worker_exit"](None, None)
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
