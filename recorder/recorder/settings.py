"""The recorder's configuration, read once from the environment into a frozen object.

Every name here is documented in README.md and set by infra/recorder.tf.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

MIN_SECRET_LENGTH = 32  # HS256 keys shorter than the hash are weak (RFC 7518 section 3.2)


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    secret: str
    bucket: str = ""
    recordings_dir: str = "recordings"
    spool_dir: str = tempfile.gettempdir()
    reorder_window_ms: int = 200
    handshake_timeout_s: float = 10.0
    read_batch_ms: int = 40

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        secret = env.get("RECORDER_SECRET", "")
        if len(secret) < MIN_SECRET_LENGTH:
            raise SettingsError(f"RECORDER_SECRET must be set to at least {MIN_SECRET_LENGTH} characters")
        return cls(
            secret=secret,
            bucket=env.get("RECORDINGS_BUCKET", ""),
            recordings_dir=env.get("RECORDINGS_DIR", cls.recordings_dir),
            spool_dir=env.get("SPOOL_DIR", "") or cls.spool_dir,
            reorder_window_ms=_int(env, "REORDER_WINDOW_MS", cls.reorder_window_ms, 0, 5000),
            handshake_timeout_s=_int(env, "HANDSHAKE_TIMEOUT_S", int(cls.handshake_timeout_s), 1, 120),
            read_batch_ms=_int(env, "READ_BATCH_MS", cls.read_batch_ms, 0, 80),
        )


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, not {value}")
    return value
