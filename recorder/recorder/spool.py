"""The spool: each live call's directory of segment files not yet in the store, and the sweeper that finishes
what a dead worker or a lost instance left behind.

- A live call holds flock(2) on its directory's `lock` file; the kernel releases it when the process dies. An
  unlocked directory is abandoned for certain: the sweeper uploads its segments and assembles the call at once.
- A call whose instance vanished with its spool (Cloud Run: /tmp is memory) is known only to the store, by its
  lease. A lease not renewed for `lease_s` means no owner: any instance assembles what reached the store.
- A local store's call has no spool directory: its audio goes straight into the store's file, which the live
  call holds locked in the same way (`Store.in_use`). Its lease says so (`locked`), and once nobody holds the
  file the sweeper assembles the call at once, as it would an unlocked spool directory.
- The spool is private (README: Security): the directory is 0700 and must belong to this user; files are 0600.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path

import gevent

from .recording import FINISHED, LEASES, STARTED, assemble, read_manifest, remove_spool, safe_name
from .store import Store

log = logging.getLogger("recorder.spool")


class SpoolError(RuntimeError):
    pass


def prepare(spool_dir: str) -> Path:
    """Create the spool, or check an existing one is this user's alone."""
    path = Path(spool_dir)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    status = path.stat()
    if status.st_uid != os.getuid():
        raise SpoolError(f"SPOOL_DIR {spool_dir} belongs to another user: set SPOOL_DIR to a directory of your own")
    if status.st_mode & 0o077:
        path.chmod(0o700)
    return path


def sweep(spool_dir: Path, store: Store, lease_s: float) -> int:
    """Store every abandoned call, from this spool and from the store's leases; return how many were stored."""
    stored = 0
    for directory in sorted(path for path in spool_dir.iterdir() if path.is_dir()):
        try:
            stored += _store_leftover(directory, store)
        except Exception:
            log.exception("could not store the abandoned call in %s; will try again", directory.name)
        gevent.sleep(0)  # a sweep reads every live call's files: the calls' own reads go between
    for lease in store.sizes(LEASES):
        try:
            stored += _recover_from_store(lease, store, lease_s)
        except Exception:
            log.exception("could not recover %s; will try again", lease)
        gevent.sleep(0)
    return stored


def _store_leftover(directory: Path, store: Store) -> bool:
    try:
        lock = open(directory / "lock", "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return False  # being created, or removed since the listing
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live call
        if not directory.exists():
            return False  # stored and removed while we waited
        manifest = read_manifest(_read(directory / FINISHED)) or read_manifest(_read(directory / STARTED))
        if manifest is None:  # the worker died before the call had started writing
            remove_spool(directory)
            return False
        for segment in sorted(directory.glob("seg-*")):  # every one but the last is full: that places it
            index = int(segment.name[4:])
            store.add_part(manifest["key"], index, (index - 1) * manifest["segment_bytes"], segment)
            segment.unlink()
        location, _ = assemble(store, manifest, recovered=not manifest.get("finished"))
        remove_spool(directory)
    log.warning("stored an abandoned call at %s", location, extra={"call_id": manifest["metadata"].get("call_id")})
    return True


def _recover_from_store(lease: str, store: Store, lease_s: float) -> bool:
    manifest = read_manifest(store.read(lease))
    if manifest is None:
        return False  # removed since the listing
    # A local store's call is live while its audio is held (the kernel lets go of a dead worker's lock at once);
    # elsewhere, or once its file is gone with the stored call's parts, while its lease is renewed.
    key = str(manifest.get("key", ""))
    live = store.in_use(key) if manifest.get("locked") and safe_name(key) == key else None
    if live or (live is None and time.time() - float(manifest.get("renewed_at", 0)) < lease_s):
        return False  # its owner is alive
    location, _ = assemble(store, manifest, recovered=not manifest.get("finished"))
    log.warning("recovered a call from the store at %s", location, extra={"call_id": manifest["key"]})
    return True


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def sweep_forever(spool_dir: Path, store: Store, interval_s: float, lease_s: float) -> None:
    while True:
        try:
            sweep(spool_dir, store, lease_s)
        except Exception as error:  # the store is unreachable (the start-up probe has said so): try again later
            log.warning("sweeping failed; will try again: %s", error)
        gevent.sleep(interval_s)
