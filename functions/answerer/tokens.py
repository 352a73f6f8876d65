"""Signs the per-call token that admits one call's stream to the recorder (recorder/recorder/tokens.py checks it)."""

from __future__ import annotations

import time

import jwt

AUDIENCE = "recorder"
TTL_S = 300  # the stream opens seconds after the answer; the token only has to outlive that


def issue_token(secret: str, call_id: str, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims = {"sub": call_id, "aud": AUDIENCE, "iat": issued, "exp": issued + TTL_S}
    return jwt.encode(claims, secret, algorithm="HS256")
