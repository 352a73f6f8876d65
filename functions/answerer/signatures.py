"""Checks that a webhook comes from the provider, not from whoever found the function's URL.

- Vonage signed webhooks (developer.vonage.com, "Signed webhooks"): `Authorization: Bearer <JWT>`, HS256 with
  the account's signature secret; claims `iat` and `payload_hash`, the SHA-256 (hex) of the request body.
  The signature proves the sender; `iat` freshness and the hash bind it to this request.
- Twilio (twilio.com/docs/usage/security): `X-Twilio-Signature` = Base64(HMAC-SHA1(auth token, the full URL +
  each POST parameter's name and value, sorted by name)). SignalWire signs the same way with its Signing Key,
  in `X-SignalWire-Signature` (and `X-Twilio-Signature`).
Each check returns None when the request is genuine, otherwise why not (safe to log: no secret in it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import warnings
from collections.abc import Iterable, Mapping

import jwt
import jwt.warnings

FRESH_S = 300  # how old a Vonage signature may be (and how far ahead, for clock skew)


def vonage_problem(authorization: str, body: bytes, secret: str, now: float | None = None) -> str | None:
    if not authorization.lower().startswith("bearer "):
        return "no signed-webhook token"
    try:
        with warnings.catch_warnings():
            # The signature secret's length is the account's, set by Vonage: not ours to warn about per request.
            warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
            claims = jwt.decode(
                authorization[7:].strip(),
                secret,
                algorithms=["HS256"],
                options={"require": ["iat"], "verify_exp": True, "verify_aud": False},
            )
    except jwt.InvalidTokenError as error:
        return f"invalid signed-webhook token ({type(error).__name__})"
    issued = claims["iat"]
    if not isinstance(issued, int | float) or abs((time.time() if now is None else now) - issued) > FRESH_S:
        return "signed-webhook token is not fresh"
    expected = claims.get("payload_hash")
    if body and not isinstance(expected, str):
        return "signed-webhook token has no payload_hash for a request with a body"
    if isinstance(expected, str) and expected.lower() not in _body_hashes(body):
        return "payload_hash does not match the body"
    return None


def _body_hashes(body: bytes) -> set[str]:
    """The body's SHA-256 as sent, and of its compact JSON (how Vonage's own samples compute it)."""
    hashes = {hashlib.sha256(body).hexdigest()}
    try:
        compact = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
        hashes.add(hashlib.sha256(compact).hexdigest())
    except ValueError:
        pass
    return hashes


def twilio_signature(key: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    signed = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(hmac.new(key.encode(), signed.encode(), hashlib.sha1).digest()).decode()


def twilio_problem(
    headers: Mapping[str, str], url: str, params: Iterable[tuple[str, str]], keys: Mapping[str, str]
) -> str | None:
    """`keys`: header name -> the key that signs it, for each provider configured."""
    params = list(params)
    presented = [(header, key) for header, key in keys.items() if headers.get(header)]
    if not presented:
        return f"no {' or '.join(sorted(keys))} header"
    for header, key in presented:
        if hmac.compare_digest(twilio_signature(key, url, params), headers[header]):
            return None
    return "webhook signature does not match"
