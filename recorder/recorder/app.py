"""The recorder's HTTP surface: GET /healthz, and one WebSocket route per provider holding a call's stream.

Served by gunicorn with the worker in worker.py (gevent-websocket's, plus a graceful drain):
    gunicorn --config gunicorn.conf.py 'recorder.app:create_app()'
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent
from flask import Flask, abort, request
from geventwebsocket.exceptions import WebSocketError

from . import logs, spool, wsfix
from .calls import EXTENSION, LiveCalls
from .closing import CloseCode, CloseStream, ProtocolError, Refused
from .protocols import UPGRADE_CHECKS, adapter_for
from .reader import MessageReader
from .session import CallSession
from .settings import Settings
from .store import Store, store_for

log = logging.getLogger("recorder")


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    logs.configure()
    wsfix.apply()
    settings = settings or Settings.from_env()
    store = store or store_for(settings.bucket, settings.recordings_dir, settings.upload_deadline_s)
    spool_dir = spool.prepare(settings.spool_dir)
    calls = LiveCalls(settings.max_calls, settings.spool_dir, settings.spool_reserve_mb)
    app = Flask(__name__)
    app.extensions[EXTENSION] = calls
    # Calls a dead worker or a failed upload left in the spool: now, then every sweep_interval_s.
    gevent.spawn(spool.sweep_forever, spool_dir, store, settings.sweep_interval_s, settings.lease_s)

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    @app.route("/ws/<provider>", websocket=True)
    @app.route("/ws/<provider>/<token>", websocket=True)  # Telnyx, Plivo, jambonz: the token is the url's last segment
    def stream(provider: str, token: str | None = None) -> str:
        ws = request.environ.get("wsgi.websocket")
        if ws is None:
            abort(400, "this path takes WebSocket connections only")
        adapter = adapter_for(provider, request.args)
        try:
            if adapter is None:
                raise Refused(CloseCode.POLICY_VIOLATION, f"no stream path for {provider[:40]!r}")
            problem = _upgrade_problem(provider, settings)
            if problem:
                raise Refused(CloseCode.POLICY_VIOLATION, problem)
            calls.check_admission()
        except Refused as refusal:
            log.warning("refusing a call with %s: %s", refusal.code.name, refusal.reason)
            ws.close(refusal.code, refusal.reason)
            return ""
        with calls.holding():
            session = CallSession(adapter, settings, store, token or _presented_token(), calls.claim, spool_dir)
            reader = MessageReader(
                ws, settings.read_batch_ms / 1000, settings.max_message_bytes, settings.max_text_bytes
            )
            hold_call(ws, reader, session, settings, calls)
        return ""

    return app


def _upgrade_problem(provider: str, settings: Settings) -> str | None:
    """The credentials a stream without a token must present on its upgrade (AudioHook, Asterisk)."""
    check = UPGRADE_CHECKS.get(provider)
    if check is None:
        return None
    query = request.query_string.decode("latin-1")
    target = str(request.environ.get("RAW_URI") or request.path + (f"?{query}" if query else ""))
    return check({name.lower(): value for name, value in request.headers.items()}, target, settings)


def _presented_token() -> str | None:
    """The token from `?token=` (Vonage NCCO uri) or `Authorization: Bearer` (SignalWire authBearerToken)."""
    bearer = request.headers.get("Authorization", "")
    if bearer.lower().startswith("bearer "):
        return bearer[7:].strip()
    return request.args.get("token")


def hold_call(ws: Any, reader: MessageReader, session: CallSession, settings: Settings, calls: LiveCalls) -> None:
    """The socket loop: receive, hand to the session, and store the recording however the call ends."""
    reason = "connection closed"  # by the peer, or dropped
    watchdog = gevent.spawn(_watch, gevent.getcurrent(), session, settings, calls)
    try:
        no_handshake = ProtocolError(
            CloseCode.POLICY_VIOLATION, f"no authorised call handshake within {settings.handshake_timeout_s:g} s"
        )
        with gevent.Timeout(settings.handshake_timeout_s, no_handshake):
            while session.call is None and _receive_into(session, reader, ws):
                pass
        while not session.ended_by_provider and _receive_into(session, reader, ws):
            pass
        if session.ended_by_provider:
            reason = "ended by provider"
            ws.close(CloseCode.NORMAL, "recorded")
    except CloseStream as close:
        reason = f"protocol error: {close.reason}" if isinstance(close, ProtocolError) else close.reason
        log.warning("closing with %s: %s", close.code.name, close.reason, extra=session.log_fields)
        ws.close(close.code, close.reason)
    except Exception:
        reason = "recorder error"
        log.exception("recorder error", extra=session.log_fields)  # the peer learns only the code
        ws.close(CloseCode.INTERNAL_ERROR, "recorder error")
    finally:
        watchdog.kill()
        calls.storing()
        session.finish(reason)


def _receive_into(session: CallSession, reader: MessageReader, ws: Any) -> bool:
    message = reader.receive()
    if message is None:
        return False
    for reply in session.receive(message):  # AudioHook's opened, pong, closed: before any close frame of ours
        try:
            ws.send_frame(reply, ws.OPCODE_TEXT)
        except WebSocketError:
            pass  # the peer is gone: what it sent before it went is still read, and recorded
    return True


def _watch(call: gevent.Greenlet, session: CallSession, settings: Settings, calls: LiveCalls) -> None:
    """Ends a call that went silent (a half-open connection: the peer vanished without a FIN) or that has
    run longer than max_call_seconds. A watchdog rather than a socket timeout: with a timeout, gevent arms a
    timer on every recv."""
    started = time.monotonic()
    while True:
        now = time.monotonic()
        idle, age = now - session.last_message_at, now - started
        if idle >= settings.read_timeout_s:
            calls.end(call, CloseCode.GOING_AWAY, f"no message for {settings.read_timeout_s} s: connection dropped")
            return
        if age >= settings.max_call_seconds:
            calls.end(call, CloseCode.POLICY_VIOLATION, f"call longer than {settings.max_call_seconds} s")
            return
        gevent.sleep(min(settings.read_timeout_s - idle, settings.max_call_seconds - age) + 0.01)
