"""Checks the per-call token the answer function signed (functions/tokens.py issues it).

The token is an HS256 JWT with `sub` = the provider's call id, `prov` = the stream path's provider (the
`/ws/<provider>` it may open) and audience "recorder", expiring minutes after
the call was answered. It is checked once, when the stream says which call it carries.
"""

from __future__ import annotations

import jwt

AUDIENCE = "recorder"
LEEWAY_S = 10  # clock skew between the function's and the recorder's machines


def token_problem(token: str | None, secret: str, call_id: str, provider: str) -> str | None:
    """None if `token` admits a recording of `call_id`; otherwise why not (safe to log: no secret in it)."""
    if not token:
        return "no token presented"
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            leeway=LEEWAY_S,
            options={"require": ["exp", "iat", "sub", "prov"]},
        )
    except jwt.ExpiredSignatureError:
        return "token expired"
    except jwt.InvalidTokenError as error:
        return f"invalid token ({type(error).__name__})"
    if claims["sub"] != call_id:
        return "token is for another call"
    if claims["prov"] != provider:
        return "token is for another provider's stream"
    return None
