"""gunicorn worker: gevent-websocket's, plus a graceful drain on SIGTERM (Cloud Run's shutdown).

On SIGTERM gunicorn's gevent worker stops accepting and waits for requests to end by themselves; a call can
last an hour, and Cloud Run kills the instance 10 s after SIGTERM. Instead: refuse new streams with 503, end
every call in flight (close 1001) and store it, then let gunicorn exit.
"""

from __future__ import annotations

from typing import Any

import gevent
from geventwebsocket.gunicorn.workers import GeventWebSocketWorker
from geventwebsocket.handler import WebSocketHandler

from .calls import live_calls


class RecorderHandler(WebSocketHandler):  # type: ignore[misc]
    def run_application(self) -> None:
        calls = live_calls(self.application)
        if calls is not None and calls.draining and self.environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            self.start_response("503 Service Unavailable", [("Content-Type", "text/plain"), ("Retry-After", "5")])
            self.result = [b"the recorder is shutting down: try again\n"]
            self.process_result()
            return
        super().run_application()


class RecorderWorker(GeventWebSocketWorker):  # type: ignore[misc]
    wsgi_handler = RecorderHandler

    def handle_exit(self, sig: int, frame: Any) -> None:
        gevent.spawn(self._drain_then_exit)  # out of the signal handler, so that it may block

    def _drain_then_exit(self) -> None:
        calls = live_calls(self.wsgi)
        if calls is not None:
            left = calls.drain(timeout=self.cfg.graceful_timeout - 1)
            self.log.info("drained: %d calls still storing", left)
        self.alive = False
