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
    spool_dir: str = os.path.join(tempfile.gettempdir(), "call-recorder-spool")
    reorder_window_ms: int = 200
    handshake_timeout_s: float = 10.0
    read_batch_ms: int = 40
    read_timeout_s: int = 30  # a stream silent this long is a dropped connection
    grace_period_s: int = 8  # on SIGTERM: finish and store every call within this (Cloud Run kills at 10 s)
    spool_reserve_mb: int = 100  # refuse new calls when the spool has less free space than this
    max_message_bytes: int = 65536
    max_text_bytes: int = 16384
    max_call_seconds: int = 7200  # Vonage's own longest connect
    max_calls: int = 500  # per worker: what one sustains (README, Performance)
    upload_deadline_s: int = 60  # retrying an upload inside the call's request
    sweep_interval_s: int = 60  # how often orphaned or unstored spool files are retried
    segment_s: int = 10  # seconds of audio per segment streamed to the store while the call is live

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
            read_timeout_s=_int(env, "READ_TIMEOUT_S", cls.read_timeout_s, 1, 3600),
            grace_period_s=_int(env, "GRACE_PERIOD_S", cls.grace_period_s, 1, 60),
            spool_reserve_mb=_int(env, "SPOOL_RESERVE_MB", cls.spool_reserve_mb, 0, 10**7),
            max_message_bytes=_int(env, "MAX_MESSAGE_BYTES", cls.max_message_bytes, 1024, 16 * 2**20),
            max_text_bytes=_int(env, "MAX_TEXT_BYTES", cls.max_text_bytes, 256, 2**20),
            max_call_seconds=_int(env, "MAX_CALL_SECONDS", cls.max_call_seconds, 1, 86400),
            max_calls=_int(env, "MAX_CALLS", cls.max_calls, 1, 10000),
            upload_deadline_s=_int(env, "UPLOAD_DEADLINE_S", cls.upload_deadline_s, 1, 3600),
            sweep_interval_s=_int(env, "SWEEP_INTERVAL_S", cls.sweep_interval_s, 1, 3600),
            segment_s=_int(env, "SEGMENT_S", cls.segment_s, 2, 60),
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
