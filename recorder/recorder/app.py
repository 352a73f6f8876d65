"""The recorder's HTTP surface: GET /healthz, and one WebSocket route per provider holding a call's stream.

Served by gunicorn with gevent-websocket's worker (see Makefile `run` and recorder/Dockerfile):
    gunicorn -k geventwebsocket.gunicorn.workers.GeventWebSocketWorker 'recorder.app:create_app()'
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

import gevent
from flask import Flask, abort, request

from . import logs, reader, wsfix
from .events import INTERNAL_ERROR, NORMAL, POLICY_VIOLATION, ProtocolError
from .protocols import adapter_for
from .session import CallSession
from .settings import Settings
from .store import Store, store_for

log = logging.getLogger("recorder")

IDLE_TIMEOUT_S = 30.0  # a stream silent this long is a dropped connection: finalize what we have


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    logs.configure()
    wsfix.apply()
    settings = settings or Settings.from_env()
    store = store or store_for(settings.bucket, settings.recordings_dir)
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    @app.route("/ws/<provider>", websocket=True)
    def stream(provider: str) -> str:
        ws = request.environ.get("wsgi.websocket")
        if ws is None:
            abort(400, "this path takes WebSocket connections only")
        adapter = adapter_for(provider)
        if adapter is None:
            log.warning("closing with %d: no stream path for %r", POLICY_VIOLATION, provider[:40])
            ws.close(POLICY_VIOLATION, "unknown provider path")
            return ""
        session = CallSession(adapter, settings, store, presented_token=_presented_token())
        reader.install(ws, settings.read_batch_ms / 1000)
        hold_call(ws, session, settings)
        return ""

    return app


def _presented_token() -> str | None:
    """The token from `?token=` (Vonage NCCO uri) or `Authorization: Bearer` (SignalWire authBearerToken)."""
    bearer = request.headers.get("Authorization", "")
    if bearer.lower().startswith("bearer "):
        return bearer[7:].strip()
    return request.args.get("token")


def hold_call(ws: Any, session: CallSession, settings: Settings) -> None:
    """The socket loop: receive, hand to the session, and store the recording however the call ends."""
    reason = "connection closed"  # by the peer, or dropped: gevent-websocket reports both as None
    try:
        no_handshake = ProtocolError(
            POLICY_VIOLATION, f"no authorised call handshake within {settings.handshake_timeout_s:g} s"
        )
        with gevent.Timeout(settings.handshake_timeout_s, no_handshake):
            while session.call is None and _receive_into(session, ws):
                pass
        watchdog = gevent.spawn(_end_when_idle, ws, session)
        try:
            while not session.ended_by_provider and _receive_into(session, ws):
                pass
        finally:
            watchdog.kill()
        if session.ended_by_provider:
            reason = "ended by provider"
            ws.close(NORMAL, "recorded")
    except ProtocolError as error:
        reason = f"protocol error: {error.reason}"
        log.warning("closing with %d: %s", error.close_code, error.reason, extra=session.log_fields)
        ws.close(error.close_code, error.reason)
    except Exception:
        reason = "recorder error"
        log.exception("recorder error", extra=session.log_fields)  # the peer learns only the code
        ws.close(INTERNAL_ERROR, "recorder error")
    finally:
        session.finish(reason)


def _receive_into(session: CallSession, ws: Any) -> bool:
    message = ws.receive()
    if message is None:
        return False
    session.last_message_at = time.monotonic()
    session.receive(message)
    return True


def _end_when_idle(ws: Any, session: CallSession) -> None:
    """A half-open connection (the peer vanished without a FIN) sends nothing: after IDLE_TIMEOUT_S of
    silence, shut the socket so the blocked read returns and the call is finalized as dropped.

    A watchdog rather than a socket timeout: with a timeout, gevent arms a timer on every recv.
    """
    while True:
        idle = time.monotonic() - session.last_message_at
        if idle >= IDLE_TIMEOUT_S:
            log.warning("no message for %.0f s: treating the connection as dropped", idle, extra=session.log_fields)
            ws.handler.socket.shutdown(socket.SHUT_RDWR)
            return
        gevent.sleep(IDLE_TIMEOUT_S - idle)
