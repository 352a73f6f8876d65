"""Signs the per-call token that admits one call's stream to the recorder (recorder/recorder/tokens.py checks it)."""

from __future__ import annotations

import time

import jwt

AUDIENCE = "recorder"
TTL_S = 300  # the stream opens seconds after the answer; the token only has to outlive that


def issue_token(secret: str, call_id: str, provider: str, now: float | None = None) -> str:
    """A token for one call's stream on one provider's path (`/ws/<provider>`): `prov` binds it to that path,
    so a token answered on one provider's webhook cannot open another provider's stream."""
    issued = int(time.time() if now is None else now)
    claims = {"sub": call_id, "prov": provider, "aud": AUDIENCE, "iat": issued, "exp": issued + TTL_S}
    return jwt.encode(claims, secret, algorithm="HS256")
