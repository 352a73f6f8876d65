"""The function's configuration, read once from the environment into a frozen object.

Every name here is documented in README.md and set by infra/function.tf.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .answers import TELNYX_CODECS
from .signatures import telnyx_public_key

MIN_SECRET_LENGTH = 32  # HS256 keys shorter than the hash are weak (RFC 7518 section 3.2)
SAMPLE_RATES = (8000, 16000, 24000)  # what Vonage's audio/l16 content-type offers
DEFAULT_GREETING = "This call is recorded."
PHONE_NUMBER = re.compile(r"^\+?[0-9]{3,15}$")  # E.164, with or without the +
ANSWER_PROVIDERS = ("vonage", "twilio", "voxology", "telnyx", "plivo", "jambonz")  # each has a /<provider>/answer route


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    recorder_url: str  # ws:// or wss:// base URL of the recorder, no trailing slash
    secret: str
    greeting: str = DEFAULT_GREETING
    sample_rate: int = 16000
    forward_to: str = ""  # Twilio/SignalWire: dial this number while recording; empty: take a message
    max_call_seconds: int = 7200  # Vonage's longest connect; Terraform sets 3600, Cloud Run's WebSocket limit
    # Set to check that webhooks come from the provider (signatures.py); empty: not checked.
    vonage_signature_secret: str = ""
    twilio_auth_token: str = ""
    signalwire_signing_key: str = ""
    telnyx_public_key: str = ""  # base64 Ed25519 public key
    plivo_auth_token: str = ""
    telnyx_codec: str = "PCMU"  # what the TeXML <Stream> asks Telnyx to send: PCMU or PCMA
    # With any signing key set, answer routes that cannot verify their caller refuse (401), except these.
    allow_unsigned: frozenset[str] = frozenset()

    @property
    def signing(self) -> bool:
        """Whether any provider's webhooks are checked: then every answer route must verify its caller."""
        keys = (
            self.vonage_signature_secret,
            self.twilio_auth_token,
            self.signalwire_signing_key,
            self.telnyx_public_key,
            self.plivo_auth_token,
        )
        return any(keys)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        recorder_url = env.get("RECORDER_URL", "ws://127.0.0.1:8000").rstrip("/")
        if not recorder_url.startswith(("ws://", "wss://")):
            raise SettingsError(f"RECORDER_URL must start with wss:// (or ws:// locally), not {recorder_url!r}")
        secret = env.get("RECORDER_SECRET", "")
        if len(secret) < MIN_SECRET_LENGTH:
            raise SettingsError(f"RECORDER_SECRET must be set to at least {MIN_SECRET_LENGTH} characters")
        raw_rate = env.get("SAMPLE_RATE", "") or str(cls.sample_rate)
        if raw_rate not in {str(rate) for rate in SAMPLE_RATES}:
            raise SettingsError(f"SAMPLE_RATE must be one of {', '.join(map(str, SAMPLE_RATES))}, not {raw_rate!r}")
        forward_to = env.get("FORWARD_TO", "").replace(" ", "")
        if forward_to and not PHONE_NUMBER.match(forward_to):
            raise SettingsError(f"FORWARD_TO must be a phone number in E.164 form (+15550100), not {forward_to!r}")
        raw_max = env.get("MAX_CALL_SECONDS", "") or str(cls.max_call_seconds)
        if not (raw_max.isascii() and raw_max.isdigit()) or not 1 <= int(raw_max) <= 7200:
            raise SettingsError(f"MAX_CALL_SECONDS must be a whole number from 1 to 7200, not {raw_max!r}")
        telnyx_codec = env.get("TELNYX_CODEC", "") or cls.telnyx_codec
        if telnyx_codec not in TELNYX_CODECS:
            raise SettingsError(f"TELNYX_CODEC must be one of {', '.join(TELNYX_CODECS)}, not {telnyx_codec!r}")
        telnyx_key = env.get("TELNYX_PUBLIC_KEY", "").strip()
        if telnyx_key:
            try:
                telnyx_public_key(telnyx_key)
            except ValueError as error:
                raise SettingsError(f"TELNYX_PUBLIC_KEY is {error}") from None
        allow_unsigned = frozenset(name.strip() for name in env.get("ALLOW_UNSIGNED", "").split(",") if name.strip())
        unknown = sorted(allow_unsigned - set(ANSWER_PROVIDERS))
        if unknown:
            raise SettingsError(f"ALLOW_UNSIGNED names providers from {', '.join(ANSWER_PROVIDERS)}, not {unknown}")
        return cls(
            recorder_url=recorder_url,
            secret=secret,
            greeting=env.get("GREETING", DEFAULT_GREETING),  # set but empty: no notice
            sample_rate=int(raw_rate),
            forward_to=forward_to,
            max_call_seconds=int(raw_max),
            vonage_signature_secret=env.get("VONAGE_SIGNATURE_SECRET", ""),
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
            signalwire_signing_key=env.get("SIGNALWIRE_SIGNING_KEY", ""),
            telnyx_public_key=telnyx_key,
            plivo_auth_token=env.get("PLIVO_AUTH_TOKEN", ""),
            telnyx_codec=telnyx_codec,
            allow_unsigned=allow_unsigned,
        )
