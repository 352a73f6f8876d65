"""The per-call token: signed by the function, checked by the recorder."""

from __future__ import annotations

import time

from recorder.tokens import token_problem
from webhook.tokens import TTL_S, issue_token

SECRET = "k" * 40


def test_a_fresh_token_admits_its_own_call() -> None:
    assert token_problem(issue_token(SECRET, "call-1", "twilio"), SECRET, "call-1", "twilio") is None


def test_an_expired_token_is_refused() -> None:
    issued = time.time() - TTL_S - 60
    assert (
        token_problem(issue_token(SECRET, "call-1", "twilio", now=issued), SECRET, "call-1", "twilio")
        == "token expired"
    )


def test_a_token_for_another_call_is_refused() -> None:
    assert (
        token_problem(issue_token(SECRET, "call-1", "twilio"), SECRET, "call-2", "twilio")
        == "token is for another call"
    )


def test_a_tampered_token_is_refused() -> None:
    # Call 2's signature on a payload rewritten to say call 1.
    head, _, signature = issue_token(SECRET, "call-2", "twilio").split(".")
    payload = issue_token(SECRET, "call-1", "twilio").split(".")[1]
    forged = ".".join((head, payload, signature))
    assert token_problem(forged, SECRET, "call-1", "twilio") == "invalid token (InvalidSignatureError)"


def test_a_token_signed_with_another_secret_is_refused() -> None:
    assert (
        token_problem(issue_token("z" * 40, "call-1", "twilio"), SECRET, "call-1", "twilio")
        == "invalid token (InvalidSignatureError)"
    )


def test_no_token_and_garbage_are_refused_without_echoing_them() -> None:
    assert token_problem(None, SECRET, "c", "twilio") == "no token presented"
    problem = token_problem("not-a-jwt-secretish", SECRET, "c", "twilio")
    assert problem is not None and "secretish" not in problem


def test_a_token_opens_only_its_own_providers_stream() -> None:
    token = issue_token(SECRET, "call-1", "voxology")
    assert token_problem(token, SECRET, "call-1", "voxology") is None
    assert token_problem(token, SECRET, "call-1", "twilio") == "token is for another provider's stream"
