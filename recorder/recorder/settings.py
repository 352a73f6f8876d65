"""The recorder's configuration, read once from the environment into a frozen object.

Every name here is documented in README.md and set by infra/recorder.tf.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

MIN_SECRET_LENGTH = 32  # HS256 keys shorter than the hash are weak (RFC 7518 section 3.2)
# The one range of MAX_CALL_SECONDS (README). 86400: a day, Twilio's and Vonage's ceilings being lower still.
MAX_CALL_SECONDS_RANGE = (1, 86400)
# docs.cloud.google.com/storage/docs/buckets#naming: 3-63 characters (up to 222 with dots), lowercase letters,
# digits, dashes, underscores and dots, starting and ending with a letter or digit.
_BUCKET_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{1,220})[a-z0-9]")


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    secret: str
    bucket: str = ""
    recordings_dir: str = "recordings"
    spool_dir: str = ""  # default: one per store, under the temp dir (spool_for below)
    reorder_window_ms: int = 200
    handshake_timeout_s: int = 5  # a connection not authenticated by then is closed (providers send it at once)
    max_unauthenticated: int = 100  # per worker: connections awaiting their handshake, apart from max_calls
    request_head_timeout_s: int = 5  # a client that has not sent its whole HTTP request head by then is dropped
    twilio_auth_token: str = ""  # set: Twilio's stream upgrades must carry a matching X-Twilio-Signature
    allow_unsigned_upgrades: bool = False  # with it set, an upgrade without X-Twilio-Signature still passes
    read_batch_ms: int = 60
    read_timeout_s: int = 30  # a stream silent this long is a dropped connection
    grace_period_s: int = 8  # on SIGTERM: finish and store every call within this (Cloud Run kills at 10 s)
    spool_reserve_mb: int = 100  # refuse new calls when the spool has less free space than this
    max_message_bytes: int = 65536
    max_text_bytes: int = 16384
    max_call_seconds: int = 7200  # Vonage's own longest connect; at most MAX_CALL_SECONDS_RANGE[1]
    max_calls: int = 500  # per worker: what one sustains (README, Performance)
    upload_deadline_s: int = 60  # retrying an upload inside the call's request
    sweep_interval_s: int = 60  # how often abandoned calls (in this spool, or leased in the store) are stored
    segment_s: int = 10  # audio in the store while the call is live, every this many seconds
    # Streams that authenticate at the upgrade (README: Genesys AudioHook, Asterisk); unset: the path takes nothing.
    audiohook_api_key: str = ""
    audiohook_client_secret: str = ""  # base64; set: AudioHook upgrades must carry a valid message signature
    asterisk_username: str = ""
    asterisk_password: str = ""

    @property
    def lease_s(self) -> int:
        """A call's lease unrenewed this long means its recorder is gone: three missed segments, plus slack."""
        return 3 * self.segment_s + 10

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        secret = env.get("RECORDER_SECRET", "")
        if len(secret) < MIN_SECRET_LENGTH:
            raise SettingsError(f"RECORDER_SECRET must be set to at least {MIN_SECRET_LENGTH} characters")
        bucket = _bucket(env.get("RECORDINGS_BUCKET", ""))
        recordings_dir = env.get("RECORDINGS_DIR", "") or cls.recordings_dir
        return cls(
            secret=secret,
            bucket=bucket,
            recordings_dir=recordings_dir,
            spool_dir=env.get("SPOOL_DIR", "") or spool_for(bucket, recordings_dir),
            reorder_window_ms=_int(env, "REORDER_WINDOW_MS", cls.reorder_window_ms, 0, 5000),
            handshake_timeout_s=_int(env, "HANDSHAKE_TIMEOUT_S", cls.handshake_timeout_s, 1, 120),
            max_unauthenticated=_int(env, "MAX_UNAUTHENTICATED", cls.max_unauthenticated, 1, 10000),
            request_head_timeout_s=_int(env, "REQUEST_HEAD_TIMEOUT_S", cls.request_head_timeout_s, 1, 60),
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
            allow_unsigned_upgrades=_bool(env, "ALLOW_UNSIGNED_UPGRADES"),
            read_batch_ms=_int(env, "READ_BATCH_MS", cls.read_batch_ms, 0, 80),
            read_timeout_s=_int(env, "READ_TIMEOUT_S", cls.read_timeout_s, 1, 3600),
            grace_period_s=_int(env, "GRACE_PERIOD_S", cls.grace_period_s, 1, 60),
            spool_reserve_mb=_int(env, "SPOOL_RESERVE_MB", cls.spool_reserve_mb, 0, 10**7),
            max_message_bytes=_int(env, "MAX_MESSAGE_BYTES", cls.max_message_bytes, 1024, 16 * 2**20),
            max_text_bytes=_int(env, "MAX_TEXT_BYTES", cls.max_text_bytes, 256, 2**20),
            max_call_seconds=_int(env, "MAX_CALL_SECONDS", cls.max_call_seconds, *MAX_CALL_SECONDS_RANGE),
            max_calls=_int(env, "MAX_CALLS", cls.max_calls, 1, 10000),
            upload_deadline_s=_int(env, "UPLOAD_DEADLINE_S", cls.upload_deadline_s, 1, 3600),
            sweep_interval_s=_int(env, "SWEEP_INTERVAL_S", cls.sweep_interval_s, 1, 3600),
            segment_s=_int(env, "SEGMENT_S", cls.segment_s, 2, 60),
            audiohook_api_key=env.get("AUDIOHOOK_API_KEY", ""),
            audiohook_client_secret=_base64(env, "AUDIOHOOK_CLIENT_SECRET"),
            asterisk_username=env.get("ASTERISK_USERNAME", ""),
            asterisk_password=env.get("ASTERISK_PASSWORD", ""),
        )


def spool_for(bucket: str, recordings_dir: str) -> str:
    """The default spool belongs to one store: two local stacks with different buckets or recordings
    directories never sweep each other's calls."""
    store = f"gs://{bucket}" if bucket else os.path.abspath(recordings_dir)
    return os.path.join(tempfile.gettempdir(), f"call-recorder-spool-{hashlib.sha256(store.encode()).hexdigest()[:12]}")


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


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


def _bucket(raw: str) -> str:
    """A bucket name; `gs://name` (what gcloud prints) is taken to mean `name`."""
    name = raw.strip().removeprefix("gs://").rstrip("/")
    if name and not _BUCKET_NAME.fullmatch(name):
        raise SettingsError(f"RECORDINGS_BUCKET must be a bucket name such as my-recordings, not {raw!r}")
    return name


def _base64(env: Mapping[str, str], name: str) -> str:
    raw = env.get(name, "").strip()
    try:
        if not raw or base64.b64decode(raw, validate=True):
            return raw
    except (binascii.Error, ValueError):
        pass
    raise SettingsError(f"{name} must be base64, as Genesys shows the client secret")
