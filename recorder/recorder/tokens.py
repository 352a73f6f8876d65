"""Checks the per-call token the answer function signed (functions/webhook/tokens.py issues it).

The token is an HS256 JWT with `sub` = the provider's call id, `prov` = the stream path's provider (the
`/ws/<provider>` it may open) and audience "recorder", expiring minutes after the call was answered.
Where the provider presents it on the upgrade (Vonage's `?token=`, SignalWire's `Authorization: Bearer`, a
`/ws/<provider>/<token>` path), its signature, expiry and provider are checked there, before the 101; its `sub`
is compared with the call id when the stream says which call it carries.
"""

from __future__ import annotations

from typing import Any

import jwt

AUDIENCE = "recorder"
LEEWAY_S = 10  # clock skew between the function's and the recorder's machines


class TokenProblem(Exception):
    """Why a token admits nothing (safe to log: no secret in it); `forbidden`: valid, but not for this."""

    def __init__(self, reason: str, forbidden: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.forbidden = forbidden


def verified_claims(token: str | None, secret: str, provider: str) -> dict[str, Any]:
    """The claims of a token signed for `provider`'s stream path; raises TokenProblem otherwise."""
    if not token:
        raise TokenProblem("no token presented")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            leeway=LEEWAY_S,
            options={"require": ["exp", "iat", "sub", "prov"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenProblem("token expired") from None
    except jwt.InvalidTokenError as error:
        raise TokenProblem(f"invalid token ({type(error).__name__})") from None
    if claims["prov"] != provider:
        raise TokenProblem("token is for another provider's stream", forbidden=True)
    return claims


def token_problem(token: str | None, secret: str, call_id: str, provider: str) -> str | None:
    """None if `token` admits a recording of `call_id`; otherwise why not (safe to log: no secret in it)."""
    try:
        claims = verified_claims(token, secret, provider)
    except TokenProblem as problem:
        return problem.reason
    if claims["sub"] != call_id:
        return "token is for another call"
    return None
