"""python -m bench [--calls 500 --seconds 30 --ramp 10]: load one recorder worker and print its figures.

- recorder CPU ms per 1,000 frames (the worker process's user+system time over the whole run);
- worst lag: how far the audio a call had processed trailed the wall clock since its first frame, the worst
  over every frame of every call (the recorder measures it and logs it with each stored recording);
- peak RSS of the worker, and RSS per call above its idle baseline;
- hang-up to stored: from the simulator closing the call to the recorder logging the final WAV as stored;
- the spool's peak (the audio not yet in the store) per call, and store requests per call-hour.
`--sink both` runs the same load against the Cloud Storage emulator and a local directory, one after the other.
The load generator runs in its own process and reports its own pacing lag, so a slow generator shows up as
such rather than as recorder lag.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

import devstack

BUCKET = "bench-recordings"
ROOT = Path(__file__).resolve().parents[1]


def unmask_costs_us() -> tuple[float, float]:
    """gevent-websocket's pure-Python unmask against the C one the recorder installs, per 640-byte frame."""
    from geventwebsocket.websocket import Header
    from websockets.speedups import apply_mask

    header, payload = Header(length=640), os.urandom(640)
    header.mask = os.urandom(4)
    pure = timeit.timeit(lambda: Header.mask_payload(header, payload), number=500) / 500
    fast = timeit.timeit(lambda: apply_mask(payload, header.mask), number=50000) / 50000
    return pure * 1e6, fast * 1e6


def stored_entries(log: Path) -> dict[str, dict[str, Any]]:
    entries = {}
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"recording stored"' in line:
            entry = json.loads(line)
            entries[entry["call_id"]] = entry
    return entries


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each call")
    parser.add_argument("--ramp", type=float, default=10.0, help="calls start evenly over this many seconds")
    parser.add_argument("--rate", type=int, default=16000, choices=(8000, 16000, 24000))
    parser.add_argument("--read-batch-ms", type=int, default=None, help="the recorder's READ_BATCH_MS")
    parser.add_argument("--segment-s", type=int, default=None, help="the recorder's SEGMENT_S")
    parser.add_argument("--sink", choices=("gcs", "dir", "both"), default="gcs", help="where recordings go")
    args = parser.parse_args()

    failures = 0
    for sink in ("gcs", "dir") if args.sink == "both" else (args.sink,):
        failures += run_once(args, sink)
    return 1 if failures else 0


def run_once(args: argparse.Namespace, sink: str) -> int:
    with tempfile.TemporaryDirectory() as tmp, devstack.GcsEmulator(buckets=(BUCKET,)) as gcs:
        function_port, recorder_port = devstack.free_port(), devstack.free_port()
        spool = Path(tmp) / "spool"
        overrides = {"SPOOL_DIR": str(spool), "SAMPLE_RATE": str(args.rate), "WEB_CONCURRENCY": "1"}
        if sink == "gcs":
            overrides.update(RECORDINGS_BUCKET=BUCKET, STORAGE_EMULATOR_HOST=gcs.url)
        else:
            overrides.update(RECORDINGS_DIR=str(Path(tmp) / "recordings"))
        env = devstack.stack_env(function_port, recorder_port, overrides)
        if args.read_batch_ms is not None:
            env["READ_BATCH_MS"] = str(args.read_batch_ms)
        if args.segment_s is not None:
            env["SEGMENT_S"] = str(args.segment_s)
        log_path = Path(tmp) / "recorder.log"
        with log_path.open("wb") as log, open(os.devnull, "wb") as quiet:
            processes = [devstack.start_recorder(env, log), devstack.start_function(function_port, env, quiet)]
            try:
                devstack.wait_until_listening(recorder_port, processes[0])
                devstack.wait_until_listening(function_port, processes[1])
                print(f"\nsink: {'the Cloud Storage emulator' if sink == 'gcs' else 'a local directory'}")
                return measure(args, processes[0], function_port, log_path, spool)
            finally:
                devstack.stop(processes)


def spool_bytes(spool: Path) -> int:
    """The audio not yet in the store: every call's segment files."""
    total = 0
    for path in spool.glob("*/seg-*"):
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            pass  # uploaded and removed since the listing
    return total


def measure(
    args: argparse.Namespace, master: subprocess.Popen[bytes], function_port: int, log_path: Path, spool: Path
) -> int:
    deadline = time.monotonic() + 10
    while not psutil.Process(master.pid).children() and time.monotonic() < deadline:
        time.sleep(0.1)
    [worker] = psutil.Process(master.pid).children()
    # One core each for the worker and the load generator (this machine has two): neither steals the
    # other's time slices, so the lag measured is the recorder's, not the scheduler's.
    pin = len(os.sched_getaffinity(0)) >= 2
    if pin:
        worker.cpu_affinity([0])
    time.sleep(1.0)
    baseline_rss = worker.memory_info().rss
    cpu_before = worker.cpu_times()

    print(
        f"{args.calls} calls of {args.seconds:g} s at {args.rate} Hz, started over {args.ramp:g} s, "
        f"against one recorder worker (pid {worker.pid})...",
        flush=True,
    )
    load = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.load",
            "--answer-url",
            f"http://127.0.0.1:{function_port}/vonage/answer",
            "--calls",
            str(args.calls),
            "--seconds",
            str(args.seconds),
            "--ramp",
            str(args.ramp),
            "--rate",
            str(args.rate),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    if pin:
        psutil.Process(load.pid).cpu_affinity([1])
    peak_rss, load_cpu_s, peak_spool = baseline_rss, 0.0, 0
    while load.poll() is None:
        peak_rss = max(peak_rss, worker.memory_info().rss)
        peak_spool = max(peak_spool, spool_bytes(spool))
        try:
            times = psutil.Process(load.pid).cpu_times()
            load_cpu_s = times.user + times.system
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.25)
    assert load.stdout is not None
    results = [json.loads(line) for line in load.stdout.read().splitlines()]
    failed = [r for r in results if "error" in r or r.get("close_code") not in (None, 1000)]

    wait_until = time.monotonic() + 120
    while len(stored := stored_entries(log_path)) < len(results) - len(failed) and time.monotonic() < wait_until:
        peak_rss = max(peak_rss, worker.memory_info().rss)
        time.sleep(0.25)
    cpu_after = worker.cpu_times()

    completed = [r for r in results if r["call_id"] in stored]
    frames = max(sum(r["frames"] for r in completed), 1)
    cpu_s = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    lags = sorted(stored[r["call_id"]]["worst_lag_ms"] for r in completed) or [float("nan")]
    to_store_ms = sorted(
        (datetime.fromisoformat(stored[r["call_id"]]["time"]).timestamp() - r["hung_up"]) * 1000 for r in completed
    ) or [float("nan")]
    send_lag_ms = max((r["send_lag_s"] for r in completed), default=0.0) * 1000
    pure_us, fast_us = unmask_costs_us()
    mib = 1024 * 1024
    per_call_kib = (peak_rss - baseline_rss) / 1024 / max(len(completed), 1)
    call_hours = frames * 0.02 / 3600
    requests = sum(stored[r["call_id"]].get("store_requests", 0) for r in completed)
    rows = [
        (
            "calls stored",
            f"{len(completed)} of {len(results)}" + (f" ({len(failed)} failed: {failed[:3]})" * bool(failed)),
        ),
        ("frames recorded", f"{frames}"),
        ("recorder CPU", f"{cpu_s * 1e6 / frames:.0f} ms per 1,000 frames ({cpu_s:.1f} s in all)"),
        ("worst lag", f"{lags[-1]:.1f} ms (the median call's worst: {statistics.median(lags):.1f} ms)"),
        (
            "generator's own worst lag",
            f"{send_lag_ms:.1f} ms ({load_cpu_s * 1e6 / frames:.0f} ms CPU per 1,000 frames)",
        ),
        (
            "peak RSS (worker)",
            f"{peak_rss / mib:.0f} MiB: {per_call_kib:.0f} KiB per call above {baseline_rss / mib:.0f} MiB idle",
        ),
        ("hang-up to stored", f"median {statistics.median(to_store_ms):.0f} ms, worst {to_store_ms[-1]:.0f} ms"),
        (
            "peak spool",
            f"{peak_spool / mib:.1f} MiB: {peak_spool / 1024 / max(len(completed), 1):.0f} KiB per call",
        ),
        ("store requests", f"{requests / max(call_hours, 1e-9):.0f} per call-hour ({requests} in all)"),
        (
            "unmask, 640-byte frame",
            f"{pure_us:.1f} us pure Python, {fast_us:.2f} us C (installed): {pure_us / fast_us:.0f}x",
        ),
    ]
    print()
    for label, value in rows:
        print(f"{label:<28} {value}")
    return 0 if len(completed) == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
