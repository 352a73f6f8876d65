"""Checks that a webhook comes from the provider, not from whoever found the function's URL.

- Vonage signed webhooks (developer.vonage.com, "Signed webhooks"): `Authorization: Bearer <JWT>`, HS256 with
  the account's signature secret; claims `iat` and `payload_hash`, the SHA-256 (hex) of the request body.
  The signature proves the sender; `iat` freshness and the hash bind it to this request.
- Twilio (twilio.com/docs/usage/security): `X-Twilio-Signature` = Base64(HMAC-SHA1(auth token, the full URL +
  each POST parameter's name and value, sorted by name)). SignalWire signs the same way with its Signing Key,
  in `X-SignalWire-Signature` (and `X-Twilio-Signature`).
- Telnyx (developers.telnyx.com, webhooks; team-telnyx/telnyx-python PR #242): `telnyx-signature-ed25519` =
  Base64(Ed25519 signature of "{telnyx-timestamp}|{raw body}") with the account's public key; 300 s tolerance.
- Plivo (docs.plivo.com, XML request validation; plivo-python plivo/utils/signature_v3.py):
  `X-Plivo-Signature-V3` = Base64(HMAC-SHA256(auth token, "{url as below}.{X-Plivo-Signature-V3-Nonce}")), and
  the header may hold several, comma-separated.
Each check returns None when the request is genuine, otherwise why not (safe to log: no secret in it).

Vonage's and Telnyx's signatures cover the body only, and a GET has none: a signed GET could be replayed with
any call id in its query. So when their key is set, the routes accept their answer webhooks as POST only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit

import jwt
import jwt.warnings
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FRESH_S = 300  # how old a Vonage or Telnyx signature may be (and how far ahead, for clock skew)


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


def telnyx_public_key(encoded: str) -> Ed25519PublicKey:
    """The account's public key as Mission Control shows it: base64 of the 32 raw bytes."""
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(encoded, validate=True))
    except ValueError:
        raise ValueError("not the base64 of a 32-byte Ed25519 public key") from None


def telnyx_problem(
    signature: str, timestamp: str, body: bytes, key: Ed25519PublicKey, now: float | None = None
) -> str | None:
    if not signature or not timestamp:
        return "no telnyx-signature-ed25519 and telnyx-timestamp headers"
    if not timestamp.isascii() or not timestamp.isdigit():
        return "telnyx-timestamp is not Unix seconds"
    if abs((time.time() if now is None else now) - int(timestamp)) > FRESH_S:
        return "telnyx-timestamp is not fresh"
    try:
        key.verify(base64.b64decode(signature, validate=True), timestamp.encode() + b"|" + body)
    except (InvalidSignature, ValueError):
        return "webhook signature does not match"
    return None


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for name, value in pairs:
        grouped[name].append(value)
    return grouped


def plivo_signature(auth_token: str, method: str, url: str, params: Iterable[tuple[str, str]], nonce: str) -> str:
    """V3, step by step as plivo-python's construct_get_url / construct_post_url / get_signature_v3 build it."""
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    query = _grouped(parse_qsl(parts.query, keep_blank_values=True))
    if method == "GET":
        # The form fields come in the query: "?k=v&k=v" over both, keys sorted, each key's values sorted.
        merged = {**_grouped(params), **query}
        signed_query = "&".join(f"{k}={v}" for k in sorted(merged) for v in sorted(merged[k]))
        signed = base + (f"?{signed_query}" if signed_query else "")
    else:
        # "?" + the sorted query, "." between it and the body's sorted "kv" pairs (no separators) when both exist.
        body = _grouped(params)
        signed_query = "&".join(f"{k}={v}" for k in sorted(query) for v in sorted(query[k]))
        signed = base + (f"?{signed_query}" if signed_query or body else "")
        signed += "." if signed_query and body else ""
        signed += "".join(f"{k}{v}" for k in sorted(body) for v in sorted(body[k]))
    digest = hmac.new(auth_token.encode(), f"{signed}.{nonce}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def plivo_problem(
    signatures: str, nonce: str, auth_token: str, method: str, url: str, params: Iterable[tuple[str, str]]
) -> str | None:
    if not signatures or not nonce:
        return "no X-Plivo-Signature-V3 and X-Plivo-Signature-V3-Nonce headers"
    expected = plivo_signature(auth_token, method, url, params, nonce)
    if any(hmac.compare_digest(expected, presented.strip()) for presented in signatures.split(",")):
        return None
    return "webhook signature does not match"
