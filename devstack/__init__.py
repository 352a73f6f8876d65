"""The local stack: the answer function and the recorder as real processes (`python -m devstack --help`).

- `processes`: their command lines, environment, start, readiness and stop; used by `make run`, the tests
  and the benchmark;
- `emulator`: `GcsEmulator`, the Cloud Storage emulator;
- `demo`: `make demo`'s one call;
- `__main__`: the command line.
"""

from .emulator import GcsEmulator
from .processes import (
    LOCAL_SECRET,
    ROOT,
    free_port,
    function_command,
    recorder_command,
    stack_env,
    start_function,
    start_recorder,
    stop,
    wait_until_listening,
)

__all__ = [
    "LOCAL_SECRET",
    "ROOT",
    "GcsEmulator",
    "free_port",
    "function_command",
    "recorder_command",
    "stack_env",
    "start_function",
    "start_recorder",
    "stop",
    "wait_until_listening",
]
