"""The local stack: the answer function and the recorder as real processes, as `make run` and the tests start them.

python -m devstack run     both in the foreground until Ctrl-C or SIGTERM
python -m devstack demo    start both, place one simulated Vonage call, print where the recording landed

FUNCTION_PORT (8080) and RECORDER_PORT (8000) choose the ports; every other setting is passed to both as it is.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from types import FrameType

from .demo import demo
from .processes import (
    StackError,
    check_port_free,
    port_setting,
    settings_problems,
    stack_env,
    start_function,
    start_recorder,
    stop,
    wait_until_listening,
)


class Stopping(Exception):
    """Ctrl-C or SIGTERM: stop the stack as Cloud Run stops the recorder."""


def _stopping(signum: int, frame: FrameType | None) -> None:
    raise Stopping(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=("run", "demo"))
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, _stopping)
    signal.signal(signal.SIGTERM, _stopping)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        return run(args.mode, processes)
    except StackError as problem:
        print(f"error: {problem}", file=sys.stderr, flush=True)
        return 1
    except Stopping:
        return 0
    finally:
        if processes:
            shut_down(processes)


def run(mode: str, processes: list[subprocess.Popen[bytes]]) -> int:
    """Check everything a person could have got wrong, start both, and only then say where they are."""
    function_port = port_setting(os.environ, "FUNCTION_PORT", 8080)
    recorder_port = port_setting(os.environ, "RECORDER_PORT", 8000)
    env = stack_env(function_port, recorder_port)
    problems = settings_problems(env)
    if problems:
        raise StackError("; ".join(problems))
    check_port_free(recorder_port, "RECORDER_PORT")
    check_port_free(function_port, "FUNCTION_PORT")
    processes.append(start_recorder(env))
    processes.append(start_function(function_port, env))
    wait_until_listening(recorder_port, processes[0], name="the recorder")
    wait_until_listening(function_port, processes[1], name="the answer function")
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
    if mode == "demo":
        return demo(function, env)
    print(
        "Place a call with `make call` (or `make call ARGS='--provider twilio'`) in another terminal; "
        "Ctrl-C stops the stack.",
        flush=True,
    )
    while True:
        for process, name in zip(processes, ("the recorder", "the answer function"), strict=True):
            if process.poll() is not None:
                raise StackError(f"{name} exited with code {process.returncode}; stopping the stack")
        time.sleep(0.5)


def shut_down(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to both: the recorder ends and stores every call in flight within GRACE_PERIOD_S; whatever is still
    running a second later is killed, so the stack is always gone within GRACE_PERIOD_S + 1 s."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the calls' storing short
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    grace = int(os.environ.get("GRACE_PERIOD_S", "") or 8)  # already checked by the recorder's settings
    if any(process.poll() is None for process in processes):
        print(f"\nstopping: the recorder stores the calls in flight (at most {grace} s)", file=sys.stderr, flush=True)
    stop(processes, timeout=grace + 0.8)


if __name__ == "__main__":
    sys.exit(main())
