"""gunicorn worker: gevent's, with the recorder's WebSocket upgrade and a graceful drain on SIGTERM (Cloud Run's
shutdown).

Before the 101, in this order, each refusal a small HTTP response and one log line:
- a request not answered within `request_head_timeout_s` of its first byte is dropped: a slow head (slowloris:
  defects #7), or a refused upgrade's endless body;
- while draining: 503; an unknown stream path: 404;
- a token presented on the upgrade (`?token=`, `Authorization: Bearer`, `/ws/<provider>/<token>`) that is not
  signed, has expired (401) or is for another provider's path (403);
- without such a token, more than `max_unauthenticated` connections awaiting their handshake: 503 (defects #6);
- the provider's own upgrade authentication, from `UPGRADES`.

On SIGTERM gunicorn's gevent worker stops accepting and waits for requests to end by themselves; a call can
last an hour, and Cloud Run kills the instance 10 s after SIGTERM. Instead: refuse new streams with 503, end
every call in flight (close 1001) and store it, then let gunicorn exit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import gevent
import gevent.socket
from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler  # type: ignore[import-untyped]

from .app import CONNECTION, TOKEN
from .live_calls import LiveCalls, live_calls
from .protocols import ADAPTERS, UPGRADE_CHECKS, UpgradeCheck
from .protocols.jambonz import SUBPROTOCOL as JAMBONZ_SUBPROTOCOL
from .settings import Settings
from .tokens import TokenProblem, verified_claims
from .websocket.connection import Connection
from .websocket.frames import Parser
from .websocket.handshake import HandshakeRefused, is_upgrade, switching_protocols

log = logging.getLogger("recorder")

Check = Callable[[Mapping[str, Any], Settings], "HandshakeRefused | None"]


def twilio_signature(key: str, url: str) -> str:
    """twilio.com/docs/usage/security: Base64(HMAC-SHA1(auth token, the URL + sorted POST parameters)); an
    upgrade is a GET, so the URL alone. (functions/webhook/signatures.py checks the webhooks the same way.)"""
    return base64.b64encode(hmac.new(key.encode(), url.encode(), hashlib.sha1).digest()).decode()


def twilio_upgrade(environ: Mapping[str, Any], settings: Settings) -> HandshakeRefused | None:
    """Twilio signs the `<Stream>` URL (wss, as the answer document gave it) in `X-Twilio-Signature` on the upgrade
    (twilio.com/docs/api/errors/31930). SignalWire shares this path: its `<Stream>` documentation
    (developer.signalwire.com/compatibility-api/cxml/voice/stream) offers `authBearerToken`, sent as
    `Authorization: Bearer` and checked like any token here, and says nothing of signing the upgrade; so with
    `allow_unsigned_upgrades` a missing header passes (a wrong one never does)."""
    if not settings.twilio_auth_token:
        return None
    presented = str(environ.get("HTTP_X_TWILIO_SIGNATURE", ""))
    if not presented:
        if settings.allow_unsigned_upgrades:
            return None
        return HandshakeRefused("401 Unauthorized", "no X-Twilio-Signature on the upgrade")
    # Behind Cloud Run's TLS front end the socket is plain: the signed URL's scheme is not ours to see.
    path = str(environ.get("RAW_URI") or environ.get("PATH_INFO", ""))
    host = str(environ.get("HTTP_HOST", ""))
    for scheme in ("wss", "ws"):
        if hmac.compare_digest(twilio_signature(settings.twilio_auth_token, f"{scheme}://{host}{path}"), presented):
            return None
    return HandshakeRefused("401 Unauthorized", "X-Twilio-Signature does not match the stream URL")


def credentials(check: UpgradeCheck) -> Check:
    """A protocol module's pure check of the upgrade's credentials (AudioHook's API key and signature, Asterisk's
    HTTP Basic), on this request: 401 and its reason when they do not admit it."""

    def upgrade(environ: Mapping[str, Any], settings: Settings) -> HandshakeRefused | None:
        headers = {
            name[5:].replace("_", "-").lower(): str(v) for name, v in environ.items() if name.startswith("HTTP_")
        }
        query = str(environ.get("QUERY_STRING", ""))
        target = str(environ.get("RAW_URI") or str(environ.get("PATH_INFO", "")) + (f"?{query}" if query else ""))
        problem = check(headers, target, settings)
        return HandshakeRefused("401 Unauthorized", problem) if problem else None

    return upgrade


@dataclass(frozen=True)
class Upgrade:
    """What a provider's upgrade carries beyond RFC 6455: Genesys AudioHook's `X-API-KEY` and HTTP message
    signature and Asterisk's HTTP Basic (checks); jambonz's `audio.jambonz.org` (a subprotocol, which the 101
    echoes)."""

    subprotocols: tuple[str, ...] = ()
    check: Check | None = None


# Only the providers whose upgrade carries more than RFC 6455; every other stream path in protocols.ADAPTERS
# takes a plain upgrade.
UPGRADES: dict[str, Upgrade] = {
    "twilio": Upgrade(check=twilio_upgrade),
    # AudioHook and Asterisk: their credentials, checked by their protocol modules.
    **{provider: Upgrade(check=credentials(check)) for provider, check in UPGRADE_CHECKS.items()},
    "jambonz": Upgrade(subprotocols=(JAMBONZ_SUBPROTOCOL,)),
}
PLAIN = Upgrade()
_STREAM_PATH = re.compile(r"/ws/([a-z0-9-]{1,40})(?:/([A-Za-z0-9._~-]{1,4096}))?")


def presented_token(environ: Mapping[str, Any], path_token: str | None) -> str | None:
    """`/ws/<provider>/<token>` (Telnyx's stream URL can carry neither a query nor parameters), `Authorization:
    Bearer` (SignalWire's authBearerToken), or `?token=` (Vonage's NCCO uri)."""
    if path_token:
        return path_token
    bearer = str(environ.get("HTTP_AUTHORIZATION", ""))
    if bearer.lower().startswith("bearer "):
        return bearer[7:].strip() or None
    tokens = parse_qs(str(environ.get("QUERY_STRING", ""))).get("token")
    return tokens[0] if tokens else None


class RecorderHandler(PyWSGIHandler):  # type: ignore[misc]
    _head_deadline: gevent.Timeout | None = None

    def handle_one_request(self) -> Any:
        calls = live_calls(self.server.application)
        if calls is None:
            return super().handle_one_request()
        seconds = calls.settings.request_head_timeout_s
        # One deadline for the whole head: a per-recv socket timeout would let a client dribble a byte at a time.
        self._head_deadline = gevent.Timeout.start_new(seconds, TimeoutError(f"no request head within {seconds} s"))
        try:
            return super().handle_one_request()
        finally:
            self._head_deadline.cancel()

    def run_application(self) -> None:
        # The deadline stays armed for everything but an accepted upgrade: a refusal, /healthz, and the request
        # body gevent discards after them (which a client could declare endless) are over within it too.
        calls = live_calls(self.application)
        if calls is None or not is_upgrade(self.environ):
            return super().run_application()  # type: ignore[no-any-return]
        try:
            upgrade, token = self._admit(calls)
            head, _ = switching_protocols(self.environ, upgrade.subprotocols)
        except HandshakeRefused as refusal:
            log.warning("refusing an upgrade with %s: %s", refusal.status, refusal.reason)
            self.close_connection = True
            self.start_response(
                refusal.status, [("Content-Type", "text/plain"), ("Connection", "close"), *refusal.headers]
            )
            self.result = [refusal.reason.encode() + b"\n"]
            self.process_result()
            return None
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        self.socket.sendall(head)
        self.status, self.headers_sent, self.close_connection = "101 Switching Protocols", True, True
        settings = calls.settings
        parser = Parser(settings.max_text_bytes, settings.max_message_bytes)
        buffered = self._buffered()
        # The connection's own socket on the same descriptor: the app holds the call in a greenlet of its own
        # (app.py), and this request ends, closing `self.socket`, which no longer owns the descriptor.
        sock = gevent.socket.socket(fileno=self.socket.detach())
        connection = Connection(sock, buffered, parser, settings.read_batch_ms / 1000)
        self.environ[CONNECTION] = connection
        self.environ[TOKEN] = token
        try:
            result = self.application(self.environ, lambda *args: None)  # the 101 is out: no HTTP response now
            try:
                for _ in result:
                    pass
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        finally:
            if not connection.taken:  # refused by the app (or it failed): nobody else will close it
                connection.close(wait_s=0)
        return None

    def _admit(self, calls: LiveCalls) -> tuple[Upgrade, str | None]:
        path = _STREAM_PATH.fullmatch(str(self.environ.get("PATH_INFO", "")))
        if calls.draining:
            raise HandshakeRefused("503 Service Unavailable", "the recorder is shutting down: try again", _RETRY)
        upgrade = UPGRADES.get(path.group(1), PLAIN) if path and path.group(1) in ADAPTERS else None
        if path is None or upgrade is None:
            raise HandshakeRefused("404 Not Found", "no stream path here")
        token = presented_token(self.environ, path.group(2))
        if token:
            try:
                verified_claims(token, calls.settings.secret, path.group(1))
            except TokenProblem as problem:
                status = "403 Forbidden" if problem.forbidden else "401 Unauthorized"
                raise HandshakeRefused(status, problem.reason) from None
        busy = None if token else calls.upgrade_refusal()  # a signed token is not a stranger's socket
        if busy:
            raise HandshakeRefused("503 Service Unavailable", busy, _RETRY)
        refusal = upgrade.check(self.environ, calls.settings) if upgrade.check else None
        if refusal:
            raise refusal
        return upgrade, token

    def _buffered(self) -> bytes:
        """Whatever the HTTP reader had buffered past the upgrade request: nothing from a client that waits for
        our 101, as RFC 6455 section 4.1 requires, but never lose a byte."""
        self.socket.settimeout(0)  # peek without blocking
        buffered = bytes(self.rfile.peek(0) or b"")
        self.rfile.read(len(buffered))
        self.socket.settimeout(None)
        return buffered


_RETRY = (("Retry-After", "5"),)


class RecorderWorker(GeventPyWSGIWorker):  # type: ignore[misc]
    wsgi_handler = RecorderHandler

    def handle_exit(self, sig: int, frame: Any) -> None:
        gevent.spawn(self._drain_then_exit)  # out of the signal handler, so that it may block

    def _drain_then_exit(self) -> None:
        calls = live_calls(self.wsgi)
        if calls is not None:
            left = calls.drain(timeout=self.cfg.graceful_timeout - 1)
            self.log.info("drained: %d calls still storing", left)
        self.alive = False
