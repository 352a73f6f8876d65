"""The local stack: the answer function and the recorder as real processes, as `make run` and the tests start them.

python -m devstack run     both in the foreground until Ctrl-C or SIGTERM
python -m devstack demo    start both, place one simulated Vonage call, print where the recording landed
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from .demo import demo
from .processes import stack_env, start_function, start_recorder, stop, wait_until_listening


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
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


if __name__ == "__main__":
    sys.exit(main())
