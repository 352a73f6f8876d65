"""The recorder with Vonage's upgrade offering a subprotocol, for test_upgrade's echo test (gunicorn app spec
`subprotocol_app:create_app_offering_a_subprotocol()`, with tests/ on PYTHONPATH)."""

from __future__ import annotations

from flask import Flask

from recorder import worker
from recorder.app import create_app


def create_app_offering_a_subprotocol() -> Flask:
    worker.UPGRADES["vonage"] = worker.Upgrade(subprotocols=("audio.jambonz.org",))
    return create_app()
