"""`make demo`: one simulated Vonage call against the stack just started, and where its recording landed."""

from __future__ import annotations

from collections.abc import Mapping

from callsim.__main__ import main as place_call


def demo(function_url: str, env: Mapping[str, str]) -> int:
    """The same call as `make call ARGS="--dtmf 4@1 --dtmf 2@2.5"`, reported the same way."""
    print("Calling: the bundled speech sample at real-time pace, with DTMF 4 and 2...", flush=True)
    return place_call(
        ["--function-url", function_url, "--recordings", env["RECORDINGS_DIR"], "--dtmf", "4@1", "--dtmf", "2@2.5"]
    )
