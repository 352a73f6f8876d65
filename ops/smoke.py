"""python -m ops.smoke: place one simulated call per provider against a deployed answer function (the simulator
`python -m callsim` uses), then confirm each recording landed in the bucket and print its gs:// path and metadata."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime

from google.cloud import storage

from callsim.__main__ import parse_args as simulator_args
from callsim.__main__ import place
from callsim.providers import PROVIDERS
from ops.recordings import Recording, client_or_exit, find


def _providers(text: str) -> list[str]:
    """A comma-separated list, or Terraform's JSON list (`terraform output -json verified_providers`)."""
    names = json.loads(text) if text.strip().startswith("[") else [name for name in text.split(",") if name]
    unknown = sorted(set(names) - set(PROVIDERS))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown provider {', '.join(unknown)}: the simulator has {', '.join(PROVIDERS)}"
        )
    return list(names)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ops.smoke", description=__doc__)
    parser.add_argument("--function-url", required=True, help="the answer function's base URL (terraform output)")
    parser.add_argument("--bucket", required=True, help="the recordings bucket (terraform output)")
    parser.add_argument("--providers", type=_providers, default=list(PROVIDERS), help="comma-separated (default: all)")
    parser.add_argument(
        "--verified",
        type=_providers,
        default=[],
        help="providers whose webhooks the function verifies: the simulator cannot sign them, so they are skipped",
    )
    parser.add_argument("--speed", type=float, default=1.0, help="times real time, as the simulator's --speed")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for each recording to land")
    return parser.parse_args(argv)


def call(provider: str, function_url: str, speed: float) -> str:
    """One simulated call; its call id. Raises if the function or the recorder refused it."""
    args = simulator_args(["--provider", provider, "--function-url", function_url, "--speed", str(speed)])
    result, _, _ = asyncio.run(place(args, function_url.rstrip("/") + PROVIDERS[provider].answer_path))
    if result.close_code not in (None, 1000):
        raise RuntimeError(f"the recorder closed the stream with {result.close_code} (its log says why)")
    return str(result.call_id)


def landed(client: storage.Client, bucket: str, call_id: str, since: datetime, timeout: float) -> Recording | None:
    """The call's recording once it is in the bucket. It lands after the hang-up, named by the UTC day the call
    started, so the search covers the days from the call's start to now."""
    deadline = time.monotonic() + timeout
    while True:
        today = datetime.now(UTC).date()
        found = next(find(client, bucket, since=since.date(), until=today, call_id=call_id), None)
        if found is not None or time.monotonic() > deadline:
            return found
        time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    client = client_or_exit()
    placed = failed = 0
    for provider in args.providers:
        if provider in args.verified:
            print(
                f"{provider}: skipped, the function verifies its webhook signatures and the simulator cannot sign them"
            )
            continue
        placed += 1
        started = datetime.now(UTC)
        try:
            call_id = call(provider, args.function_url, args.speed)
        except Exception as error:  # one provider's failure is reported, and the others still run
            print(f"{provider}: FAILED to place the call: {error}")
            failed += 1
            continue
        recording = landed(client, args.bucket, call_id, started, args.timeout)
        if recording is None:
            where = f"gs://{args.bucket} within {args.timeout:.0f} s"
            print(f"{provider}: FAILED: call {call_id} was placed, but no recording landed in {where}")
            failed += 1
            continue
        print(f"{provider}: {recording.uri} ({recording.size} bytes)")
        for key, value in sorted(recording.metadata.items()):
            print(f"    {key}: {value}")
    if placed == 0:
        print("no call placed: every provider asked for was skipped")
        return 1
    print(f"{placed - failed} of {placed} calls recorded")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
