"""Fixtures only: the real parts the integration tests share for a whole session (tests/support has the rest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.stack import BUCKET, Stack, running_stack

from devstack import GcsEmulator


@pytest.fixture(scope="session")
def gcs() -> Iterator[GcsEmulator]:
    with GcsEmulator(buckets=(BUCKET,)) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def gcs_stack(gcs: GcsEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("gcs-stack"), gcs, rates=(8000, 16000, 24000)) as stack:
        yield stack


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("local-stack"), None) as stack:
        yield stack
