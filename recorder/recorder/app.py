"""The recorder's HTTP surface: GET /healthz, and one WebSocket route per provider holding a call's stream.

Served by gunicorn with the worker in worker.py, which does the upgrade (and refuses what it can before the 101):
    gunicorn --config gunicorn.conf.py 'recorder.app:create_app()'
"""

from __future__ import annotations

import logging
import time

import gevent
from flask import Flask, abort, request

from . import logs, spool
from .closing import CloseCode, CloseStream, EndCall, ProtocolError
from .live_calls import EXTENSION, LiveCalls
from .protocols import UPGRADE_CHECKS, adapter_for
from .session import CallSession
from .settings import Settings
from .store import Store, store_for
from .websocket.connection import Connection

log = logging.getLogger("recorder")

CONNECTION = "recorder.connection"  # the environ keys worker.py's upgrade fills in
TOKEN = "recorder.token"  # a token presented on the upgrade, and verified there (signature, expiry, provider)
# From storing a call to deleting its parts: at least CLEAN_UP_DELAY_S, then until the worker's other calls are
# stored, for at most CLEAN_UP_WAIT_S (under a steady load some call may always be storing).
CLEAN_UP_DELAY_S = 1.0
CLEAN_UP_WAIT_S = 5.0
CLOSE_WAIT_S = 2.0  # from our close frame to closing TCP, storing included: how long the peer has to answer it
HEALTH_RECHECK_S = 10.0  # while storage is unusable, how often the health check probes it again


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    logs.configure()
    settings = settings or Settings.from_env()
    store = store or store_for(settings.bucket, settings.recordings_dir, settings.upload_deadline_s)
    spool_dir = spool.prepare(settings.spool_dir)
    calls = LiveCalls(settings)
    app = Flask(__name__)
    app.extensions[EXTENSION] = calls
    gevent.spawn(calls.watch_forever)
    # Calls a dead worker or a failed upload left in the spool: now, then every sweep_interval_s.
    gevent.spawn(spool.sweep_forever, spool_dir, store, settings.sweep_interval_s, settings.lease_s)

    # Storage problems show at start-up, not as every call's upload failing: one ERROR line, and the health check
    # answers 503 with the reason (Cloud Run's probes then keep the revision from serving) until storage works.
    health = {"problem": store.probe(), "checked": time.monotonic()}
    if health["problem"]:
        log.error("storage is not usable: %s", health["problem"])

    @app.get("/healthz")
    def healthz() -> tuple[str, int]:
        if health["problem"] and time.monotonic() - float(health["checked"] or 0) > HEALTH_RECHECK_S:
            health.update(problem=store.probe(), checked=time.monotonic())
        return (f"storage: {health['problem']}\n", 503) if health["problem"] else ("ok", 200)

    @app.route("/ws/<provider>", websocket=True)
    @app.route("/ws/<provider>/<token>", websocket=True)
    def stream(provider: str, token: str = "") -> str:  # a path token is the upgrade's to check: environ[TOKEN]
        connection = request.environ.get(CONNECTION)
        adapter = adapter_for(provider, request.args)  # the upgrade refused unknown paths with 404
        if not isinstance(connection, Connection) or adapter is None:
            abort(400, "this path takes WebSocket connections only")
        if calls.draining:  # it began between the upgrade's check and here
            connection.send_close(CloseCode.GOING_AWAY, "the recorder is shutting down")
            connection.close(wait_s=0)
            return ""
        # The call gets a greenlet of its own, started from the hub, and this request ends now (worker.py gave the
        # connection a socket of its own). A parked greenlet keeps its slice of the C stack: under the WSGI
        # server's and Flask's frames that was most of a call's memory, about 80 KiB.
        connection.taken = True
        presented = request.environ.get(TOKEN)
        # Vouched for: a token's signature, or (AudioHook, Asterisk) the credentials checked before the 101.
        vouched = bool(presented) or provider in UPGRADE_CHECKS
        session = CallSession(adapter, settings, store, presented, calls.claim, spool_dir)
        gevent.spawn(record_call, connection, session, calls, vouched)
        return ""

    return app


def record_call(connection: Connection, session: CallSession, calls: LiveCalls, vouched: bool) -> None:
    """The call's greenlet: held (counted, endable) from here until it is stored."""
    with calls.holding(connection, vouched):
        hold_call(connection, session, calls)


def _record_what_is_waiting(connection: Connection, session: CallSession) -> None:
    """Audio the peer sent before the call was ended, still in the kernel's buffer: record it (without switching
    greenlets), so that ending a call never costs what had already arrived."""
    try:
        for message in connection.waiting():
            session.receive([message])
    except CloseStream:
        pass  # what follows is unusable; what came before it is recorded


def hold_call(connection: Connection, session: CallSession, calls: LiveCalls) -> None:
    """The socket loop: receive and hand to the session until the call ends, however it ends; then store it.
    From `storing()` on nothing can interrupt the call (LiveCalls no longer ends it), so the store is never cut
    short."""
    code: int = CloseCode.NORMAL
    reason, why = "", "connection closed"  # by the peer's close frame
    try:
        while not session.ended_by_provider and (messages := connection.receive()):
            for reply in session.receive(messages):  # AudioHook's opened, pong, closed: before our close frame
                try:
                    connection.send_text(reply)
                except OSError:
                    pass  # the peer is gone: what it sent before it went is still read, and recorded
        if session.ended_by_provider:
            reason, why = "recorded", "ended by provider"
        elif connection.peer_close is None:
            why = "connection dropped"  # the TCP connection ended without a close frame (RFC 6455 7.1.5: 1006)
        elif connection.peer_close.code is not None:
            code = connection.peer_close.code  # echoed (RFC 6455 section 5.5.1)
    except CloseStream as close:
        if isinstance(close, EndCall):  # ended from outside, most likely in the pause between two reads
            _record_what_is_waiting(connection, session)
        code, reason = close.code, close.reason
        why = f"protocol error: {close.reason}" if isinstance(close, ProtocolError) else close.reason
        log.warning("closing with %s: %s", close.code.name, close.reason, extra=session.log_fields)
    except Exception:
        code, reason, why = CloseCode.INTERNAL_ERROR, "recorder error", "recorder error"
        log.exception("recorder error", extra=session.log_fields)  # the peer learns only the code
    calls.storing()
    closing_by = time.monotonic() + CLOSE_WAIT_S
    try:
        connection.send_close(code, reason)
        # Live audio before stores: when many calls hang up on one tick, each one's store waits until the calls
        # still receiving have read what is waiting (storing them first put a quarter of a second of lag on the
        # last ones).
        gevent.sleep(0)
        session.finish(why)
    finally:
        calls.stored()
        # Stores before sockets: closing TCP waits until the calls that hung up on the same tick are stored.
        gevent.sleep(0)
        try:
            connection.close(wait_s=closing_by - time.monotonic())
        finally:
            # Deleting the parts waits until the calls that hung up at the same moment are stored: it is not on
            # the way to anyone's "recording stored", and in Cloud Storage it is requests too (five for a 30 s
            # call), which during a burst of 200 hang-ups made the last calls wait 40 to 70 % longer. The drain
            # waits for it, undelayed (the call is still held).
            if not calls.draining:
                gevent.sleep(CLEAN_UP_DELAY_S)
                calls.wait_for_stores(CLEAN_UP_WAIT_S)
            session.clean_up()
