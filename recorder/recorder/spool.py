"""Calls in progress on disk: each a WAV and a JSON sidecar locked by its session, so that what a dead worker
or a failed upload left behind can be told apart from live calls, repaired, and stored later.

The lock is flock(2) on the sidecar: held by the live session, released by the kernel when its process dies,
and by the session itself when storing fails. The sweeper takes only unlocked sidecars.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path
from typing import IO, Any

import gevent

from .store import Store
from .wav import repair

log = logging.getLogger("recorder.spool")

STATE = "_spool"  # the sidecar's own bookkeeping, not part of the stored metadata


class SpoolEntry:
    """A live call's claim on its spool files."""

    def __init__(self, wav_path: str, object_name: str, metadata: dict[str, str], channels: int) -> None:
        self.wav_path = wav_path
        self.sidecar_path = wav_path.removesuffix(".wav") + ".json"
        self._state = {"object_name": object_name, "channels": channels, "finished": False}
        self._sidecar: IO[str] | None = open(self.sidecar_path, "x")  # noqa: SIM115 - held until release()
        fcntl.flock(self._sidecar, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.update(metadata)

    def update(self, metadata: dict[str, str], finished: bool = False) -> None:
        assert self._sidecar is not None
        self._state["finished"] = finished
        self._sidecar.seek(0)
        self._sidecar.truncate()
        json.dump({**metadata, STATE: self._state}, self._sidecar)
        # flush, no fsync: a killed process leaves this in the page cache, which is all recovery needs, and an
        # fsync would stall every call in this gevent worker (file I/O blocks the whole process).
        self._sidecar.flush()

    def remove(self) -> None:
        """The store confirmed: the files go, then the lock."""
        os.remove(self.wav_path)
        os.remove(self.sidecar_path)
        self.release()

    def release(self) -> None:
        """Leave the files for the sweeper."""
        if self._sidecar is not None:
            self._sidecar.close()
            self._sidecar = None


def sweep(spool_dir: str, store: Store) -> int:
    """Store every abandoned call in the spool; return how many were stored."""
    stored = 0
    for sidecar in sorted(Path(spool_dir).glob("*.json")):
        try:
            stored += _recover(sidecar, store)
        except Exception:
            log.exception("could not store %s; will try again", sidecar.name)
    return stored


def _recover(sidecar: Path, store: Store) -> bool:
    with sidecar.open("r") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live call
        if not sidecar.exists():
            return False  # stored and removed while we waited for the lock
        record: dict[str, Any] = json.load(lock)
        state = record.pop(STATE)
        wav = sidecar.with_suffix(".wav")
        if not wav.exists():
            sidecar.unlink()
            return False
        frames = repair(str(wav), state["channels"])
        if not state["finished"]:
            record.update(
                recovered="true",
                end_reason="recovered: the recorder stopped during the call",
                duration_s=f"{frames / int(record['sample_rate']):.3f}",
            )
        location = store.save(str(wav), state["object_name"], record)
        wav.unlink()
        sidecar.unlink()
    log.warning("stored an abandoned call at %s", location, extra={"call_id": record.get("call_id")})
    return True


def sweep_forever(spool_dir: str, store: Store, interval_s: float) -> None:
    while True:
        sweep(spool_dir, store)
        gevent.sleep(interval_s)
