"""gunicorn settings for the recorder: the one command line, in the container and locally.

gunicorn --config gunicorn.conf.py 'recorder.app:create_app()'    (from recorder/)
"""

import os

# Cloud Run sets PORT; locally devstack sets HOST=127.0.0.1 and PORT=RECORDER_PORT.
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8080')}"
# gevent's worker with the recorder's WebSocket upgrade and a graceful drain on SIGTERM (recorder/recorder/worker.py):
# each call's WebSocket is a greenlet, so one process holds hundreds of calls.
worker_class = "recorder.worker.RecorderWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
worker_connections = 1000  # Cloud Run's highest per-instance concurrency
# Cloud Run sends SIGTERM, then SIGKILL 10 s later: the worker ends and stores its calls within
# GRACE_PERIOD_S (default 8), and gunicorn's master waits one second longer for it.
# Set but empty means the default, as in recorder/recorder/settings.py (which validates the value).
graceful_timeout = int(os.environ.get("GRACE_PERIOD_S") or "8") + 1
# gunicorn 27 opens a control socket under ~/.gunicorn; a read-only, non-root container has no use for it.
control_socket_disable = True
accesslog = None  # the app logs one JSON line per call instead


def on_starting(server):
    """A bad setting is one log line naming it and exit 1, in the master, before any worker boots (in a worker
    it would be a traceback per boot attempt, then gunicorn's own "Worker failed to boot"). So is storage that
    cannot be used (no credentials, no such bucket), except on Cloud Run (K_SERVICE set), where the worker logs
    it and the health check reports it."""
    from recorder.settings import Settings, SettingsError
    from recorder.store import store_for

    try:
        settings = Settings.from_env()
    except SettingsError as problem:
        server.log.error("%s", problem)
        raise SystemExit(1) from None
    problem = None if os.environ.get("K_SERVICE") else store_for(settings.bucket, settings.recordings_dir).probe()
    if problem:
        server.log.error("%s", problem)
        raise SystemExit(1)


def post_worker_init(worker):
    """What the worker made while booting (its imports, the app) lives as long as it does: frozen out of the
    garbage collector's sight, so that a full collection walks the calls' objects only. Unfrozen, every full
    collection also walked the ~58,000 objects of the boot, and with 1,000 calls it paused the worker (every
    call's audio waiting) 36-82 ms, twice a run; frozen, the one full collection of a run took 1 ms."""
    import gc

    gc.collect()  # the boot's garbage, before it would be frozen for good
    gc.freeze()


def worker_exit(server, worker):
    """Back in the collector's sight before the interpreter shuts down: left frozen, what the boot made is torn
    down with the modules, after gevent's (a logging handler's weakref callback then fails, on stderr)."""
    import gc

    gc.unfreeze()
