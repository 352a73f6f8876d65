"""A TCP relay in front of the storage emulator that loses one response: the request reaches the emulator and is
carried out, but the client's connection is cut before the answer, as a network fault after the commit would."""

from __future__ import annotations

import socket
import threading
import time


class LossyProxy:
    def __init__(self, upstream_port: int, lose_request_containing: bytes) -> None:
        self._upstream = upstream_port
        self._marker = lose_request_containing
        self.lost = 0  # responses lost so far (one at most)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stopping = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._upstream))
            threading.Thread(target=self._relay, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._relay, args=(upstream, client, False), daemon=True).start()

    def _relay(self, source: socket.socket, target: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
                if from_client and not self.lost and self._marker in data:
                    self.lost = 1
                    time.sleep(0.5)  # the emulator carries the request out...
                    source.close()  # ...and its answer never reaches the client
                    target.close()
                    return
        except OSError:
            pass
        finally:
            for end in (source, target):
                try:
                    end.close()
                except OSError:
                    pass
