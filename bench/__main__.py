"""python -m bench [--calls 500 --seconds 20 --ramp 5 --sink dir]: this recorder against the yardstick, one worker each.

Rounds alternate ABBA (recorder, yardstick, yardstick, recorder; `--rounds 2` repeats it), so that the machine's
drift from minute to minute falls on both alike. The yardstick (`bench/yardstick.py`) is a minimal `websockets`
asyncio recorder, as the SignalWire guide's sample is. In every round N simulated Vonage calls start evenly over
the ramp and all hang up at the same moment, and it prints, for each system:

- where the worker and the generators may run (the worker has a core of its own: its lag is then its own);
- CPU ms per 1,000 frames (the worker process's user+system time, from before the first call to the last store),
  and the recorder's against the yardstick's (the ratio of the medians);
- worst lag, p99 and max over the calls: how far the audio a call had processed trailed the wall clock since its
  first frame (each system measures it and logs it with each stored recording);
- RSS per call above the idle worker: 20 s into the calls (after the ramp), just before the hang-up, and at peak;
- hang-up to stored, p50 and max: from the simulator closing the call to the system logging it as stored;
- whether every recording is bit-exact (the sent audio, byte for byte, and nothing else);
- the load generator's own worst lag and CPU, so that a slow generator is not mistaken for a slow recorder
  (`--generators 2` splits the calls over two processes);
- the hang-up burst's CPU: what the worker spent from the hang-up to the last store, per call, and on the
  emulator what the emulator spent too, so that a saturated emulator is not mistaken for a slow store;
- for the recorder on a directory, the stores' own time (each call's `store_ms`) and the floor it puts under
  the hang-up's median: one core stores one call after another, so half the calls take at least the shortest
  half of the stores, end to end;
- for the recorder on the Cloud Storage emulator (`--sink gcs`), also the spool's peak and store requests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

import devstack
from bench.load import call_audio

BUCKET = "bench-recordings"
ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
# The cores this run may use, read once: the harness then moves itself off the worker's core, and its own affinity
# is no longer the machine's (read each round, from the second round on it left every process on one core).
CORES = sorted(os.sched_getaffinity(0))


@dataclass
class System:
    """One system under load: its worker process, where calls go, where its log and recordings are."""

    name: str
    worker: psutil.Process
    target: list[str]  # the load generator's --answer-url or --ws-url
    log_path: Path
    recordings: Path | None  # a directory sink
    gcs: devstack.GcsEmulator | None = None
    spool: Path | None = None
    helpers: tuple[psutil.Process, ...] = ()  # kept off the worker's core, with the generators


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
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the shortest call")
    parser.add_argument("--ramp", type=float, default=5.0, help="calls start evenly over this many seconds")
    parser.add_argument("--rate", type=int, default=16000, choices=(8000, 16000, 24000))
    parser.add_argument("--read-batch-ms", type=int, default=None, help="the recorder's READ_BATCH_MS")
    parser.add_argument("--segment-s", type=int, default=None, help="the recorder's SEGMENT_S")
    parser.add_argument(
        "--sink",
        choices=("gcs", "dir", "both"),
        default="dir",
        help="where the recorder stores: both runs everything on the emulator, then on a directory",
    )
    parser.add_argument("--rounds", type=int, default=1, help="ABBA rounds (each: 4 runs)")
    parser.add_argument("--generators", type=int, default=1, help="load generator processes")
    parser.add_argument("--only", choices=("recorder", "yardstick"), help="run one system only, `--rounds` times")
    args = parser.parse_args()
    print(f"files under {tempfile.gettempdir()}: {file_system(tempfile.gettempdir())} (TMPDIR chooses)")
    failed = 0
    for sink in ("gcs", "dir") if args.sink == "both" else (args.sink,):
        print(f"\n== the recorder storing to {'the Cloud Storage emulator' if sink == 'gcs' else 'a directory'}")
        failed += run_rounds(argparse.Namespace(**{**vars(args), "sink": sink}))
    return 1 if failed else 0


def file_system(path: str) -> str:
    """The type of the file system that holds `path`: every system's files, recordings and spool go there."""
    mounts = [p for p in psutil.disk_partitions(all=True) if Path(path).resolve().is_relative_to(p.mountpoint)]
    return max(mounts, key=lambda p: len(p.mountpoint)).fstype if mounts else "unknown"


def run_rounds(args: argparse.Namespace) -> int:
    order = ["recorder", "yardstick", "yardstick", "recorder"] * args.rounds
    if args.only:
        order = [args.only] * args.rounds
    figures: dict[str, list[dict[str, Any]]] = {"recorder": [], "yardstick": []}
    for number, name in enumerate(order, 1):
        print(f"\nround {number} of {len(order)}: {name}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            with start(name, args, Path(tmp)) as system:
                result = measure(args, system)
        figures[name].append(result)
        for label, value in result["rows"]:
            print(f"  {label:<30} {value}")
    print_summary(figures)
    return 0 if all(r["ok"] for runs in figures.values() for r in runs) else 1


@contextmanager
def start(name: str, args: argparse.Namespace, tmp: Path) -> Iterator[System]:
    log_path = tmp / f"{name}.log"
    with log_path.open("wb") as log, open(os.devnull, "wb") as quiet:
        if name == "yardstick":
            port, recordings = devstack.free_port(), tmp / "recordings"
            command = [sys.executable, "-m", "bench.yardstick", "--port", str(port), "--dir", str(recordings)]
            process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log)
            try:
                devstack.wait_until_listening(port, process)
                yield System(
                    name, psutil.Process(process.pid), ["--ws-url", f"ws://127.0.0.1:{port}/"], log_path, recordings
                )
            finally:
                devstack.stop([process])
            return
        with devstack.GcsEmulator(buckets=(BUCKET,)) as gcs:
            function_port, recorder_port = devstack.free_port(), devstack.free_port()
            spool, recordings = tmp / "spool", tmp / "recordings"
            overrides = {"SPOOL_DIR": str(spool), "SAMPLE_RATE": str(args.rate), "WEB_CONCURRENCY": "1"}
            # The 1,000 calls: Cloud Run's highest per-instance concurrency.
            overrides["MAX_CALLS"] = str(max(args.calls, 500))
            if args.sink == "gcs":
                overrides.update(RECORDINGS_BUCKET=BUCKET, STORAGE_EMULATOR_HOST=gcs.url)
            else:
                overrides.update(RECORDINGS_DIR=str(recordings))
            env = devstack.stack_env(function_port, recorder_port, overrides)
            if args.read_batch_ms is not None:
                env["READ_BATCH_MS"] = str(args.read_batch_ms)
            if args.segment_s is not None:
                env["SEGMENT_S"] = str(args.segment_s)
            processes = [devstack.start_recorder(env, log), devstack.start_function(function_port, env, quiet)]
            try:
                devstack.wait_until_listening(recorder_port, processes[0])
                devstack.wait_until_listening(function_port, processes[1])
                deadline = time.monotonic() + 10
                while not psutil.Process(processes[0].pid).children() and time.monotonic() < deadline:
                    time.sleep(0.1)
                [worker] = psutil.Process(processes[0].pid).children()
                answer_url = f"http://127.0.0.1:{function_port}/vonage/answer"
                sink = recordings if args.sink == "dir" else None
                # The answer function and the emulator stand in for services that run elsewhere (a Cloud Function,
                # Cloud Storage); gunicorn's arbiter shares the instance but only wakes to check on its worker.
                arbiter, function = (psutil.Process(p.pid) for p in processes)
                helpers = [arbiter, function, *function.children(recursive=True)]
                helpers += [psutil.Process(gcs.process.pid)] if gcs.process else []
                yield System(
                    name,
                    worker,
                    ["--answer-url", answer_url],
                    log_path,
                    sink,
                    gcs if sink is None else None,
                    spool,
                    tuple(helpers),
                )
            finally:
                devstack.stop(processes)


def pin_to(process: psutil.Process, cores: list[int]) -> None:
    """Every thread of `process` on `cores`: an affinity set on a process id binds its main thread only, and the
    threads it had started keep theirs."""
    for thread in process.threads():
        with suppress(ProcessLookupError):
            os.sched_setaffinity(thread.id, cores)


def placement(worker: psutil.Process, loads: list[psutil.Process]) -> str:
    """Where the worker and the generators may run, as the kernel has it (every thread's affinity), and whether
    they share a core: a shared one puts the generator's time slices into the worker's lag."""

    def cores(process: psutil.Process) -> set[int]:
        found: set[int] = set()
        with suppress(psutil.NoSuchProcess, ProcessLookupError):  # a generator that failed at once says why later
            for thread in process.threads():
                found.update(os.sched_getaffinity(thread.id))
        return found

    worker_cores, load_cores = cores(worker), set().union(*map(cores, loads))
    text = f"worker on {sorted(worker_cores)}, generators on {sorted(load_cores)}"
    return text + (", sharing a core" if worker_cores & load_cores else ", apart")


def cpu_ns(pid: int) -> int:
    """The CPU time process `pid` has used, to the nanosecond: the scheduler's own count for each of its threads
    (psutil's user and system times move in 10 ms ticks, more than a hang-up of a few calls costs in all)."""
    total = 0
    for task in os.scandir(f"/proc/{pid}/task"):
        with suppress(OSError), open(f"{task.path}/schedstat") as schedstat:
            total += int(schedstat.read().split()[0])
    return total


class CpuClock(threading.Thread):
    """Every 10 ms, the CPU time of each of `processes`: what each spent between two moments of the run."""

    def __init__(self, processes: list[psutil.Process]) -> None:
        super().__init__(daemon=True)
        self._pids = [process.pid for process in processes]
        self._times: list[float] = []  # wall clock, as the generators' and the log's timestamps
        self._cpu_ns: list[list[int]] = []
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(0.01):
            with suppress(OSError):  # a process that has ended
                cpu = [cpu_ns(pid) for pid in self._pids]
                self._times.append(time.time())
                self._cpu_ns.append(cpu)

    def stop(self) -> None:
        self._stopping.set()
        self.join()

    def spent_s(self, start: float, end: float) -> list[float]:
        """Each process's CPU seconds from the last sample before `start` to the first after `end`."""
        first = max(bisect_right(self._times, start) - 1, 0)
        last = min(bisect_left(self._times, end), len(self._times) - 1)
        return [(after - before) / 1e9 for before, after in zip(self._cpu_ns[first], self._cpu_ns[last], strict=True)]


def spool_bytes(spool: Path | None) -> int:
    """The audio not yet in the store: every call's segment files."""
    total = 0
    for directory in os.scandir(spool) if spool and spool.is_dir() else ():
        try:
            total += sum(entry.stat().st_size for entry in os.scandir(directory) if entry.name.startswith("seg-"))
        except FileNotFoundError:
            pass  # uploaded, stored and removed since the listing
    return total


def generators(args: argparse.Namespace, system: System) -> list[tuple[subprocess.Popen[bytes], Path]]:
    """The load generator processes, each writing its calls' results to a file (a pipe nobody reads while the
    calls run would fill and stall the generator)."""
    shares = [args.calls // args.generators + (n < args.calls % args.generators) for n in range(args.generators)]
    processes, first = [], 0
    for share in shares:
        command = [sys.executable, "-m", "bench.load", *system.target, "--calls", str(share), "--first", str(first)]
        command += ["--total", str(args.calls), "--seconds", str(args.seconds), "--ramp", str(args.ramp)]
        command += ["--rate", str(args.rate), "--together"]
        output = system.log_path.with_name(f"load-{first}.jsonl")
        with output.open("wb") as out:
            processes.append((subprocess.Popen(command, cwd=ROOT, stdout=out), output))
        first += share
    return processes


def measure(args: argparse.Namespace, system: System) -> dict[str, Any]:
    worker = system.worker
    # The worker on core 0; the generators, the answer function, the emulator and gunicorn's arbiter on the others
    # (this machine has two): they do not steal the worker's time slices, so the lag measured is the recorder's,
    # not the scheduler's.
    pin = len(CORES) >= 2
    if pin:
        pin_to(worker, CORES[:1])
        for helper in [*system.helpers, psutil.Process()]:  # and this process, which samples the others
            pin_to(helper, CORES[1:])
    emulator = [psutil.Process(system.gcs.process.pid)] if system.gcs and system.gcs.process else []
    clock = CpuClock([worker, *emulator])
    clock.start()
    time.sleep(1.0)
    baseline_rss = worker.memory_info().rss
    cpu_before = worker.cpu_times()
    started = time.monotonic()
    launched = generators(args, system)
    loads = [load for load, _ in launched]
    if pin:
        for load in loads:
            pin_to(psutil.Process(load.pid), CORES[1:])
    placed = placement(worker, [psutil.Process(load.pid) for load in loads])
    at_20s = started + args.ramp + min(20.0, args.seconds - 1)
    before_hang_up = started + args.ramp + args.seconds - 1
    rss_20s = rss_hang_up = 0
    peak_rss, load_cpu_s, peak_spool = baseline_rss, {load.pid: 0.0 for load in loads}, 0
    while any(load.poll() is None for load in loads):
        rss = worker.memory_info().rss
        peak_rss = max(peak_rss, rss)
        now = time.monotonic()
        if now < at_20s:
            rss_20s = rss
        if now < before_hang_up:
            rss_hang_up = rss
        if args.sink == "gcs":
            peak_spool = max(peak_spool, spool_bytes(system.spool))
        for load in loads:
            try:
                times = psutil.Process(load.pid).cpu_times()
                load_cpu_s[load.pid] = times.user + times.system
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.25)
    results = [json.loads(line) for _, output in launched for line in output.read_text().splitlines()]
    failed = [r for r in results if "error" in r or r.get("close_code") not in (None, 1000)]

    wait_until = time.monotonic() + 120
    while len(stored := stored_entries(system.log_path)) < len(results) - len(failed) and time.monotonic() < wait_until:
        peak_rss = max(peak_rss, worker.memory_info().rss)
        time.sleep(0.25)
    cpu_after = worker.cpu_times()
    clock.stop()

    completed = [r for r in results if r["call_id"] in stored]
    frames = max(sum(r["frames"] for r in completed), 1)
    user_s, system_s = cpu_after.user - cpu_before.user, cpu_after.system - cpu_before.system
    cpu_s = user_s + system_s
    lags = sorted(stored[r["call_id"]]["worst_lag_ms"] for r in completed) or [float("nan")]
    stored_at = {r["call_id"]: datetime.fromisoformat(stored[r["call_id"]]["time"]).timestamp() for r in completed}
    to_store_ms = sorted((stored_at[r["call_id"]] - r["hung_up"]) * 1000 for r in completed) or [float("nan")]
    send_lag_ms = max((r["send_lag_s"] for r in completed), default=0.0) * 1000
    inexact = not_exact(args, system, completed)
    calls = max(len(completed), 1)

    def per_call(rss: int) -> float:
        return (rss - baseline_rss) / 1024 / calls

    # The hang-up: from the first call's close to the last "recording stored".
    hung_up = min((r["hung_up"] for r in completed), default=0.0)
    last_stored = max(stored_at.values(), default=0.0)
    burst_s = clock.spent_s(hung_up, last_stored) if completed else [float("nan")] * (1 + len(emulator))
    burst = f"worker {burst_s[0] * 1000:.0f} ms ({burst_s[0] * 1000 / calls:.2f} a call)"
    if emulator:
        burst += f", emulator {burst_s[1] * 1000:.0f} ms ({burst_s[1] * 1000 / calls:.2f} a call)"
    # On a directory a call's store never switches greenlets (`store_ms` in its log line), so the stores run one
    # after another on the worker's core, each after the first close: by the time half the calls are stored, the
    # shortest half of the stores has run end to end, and no median can be under that, less the closes' spread.
    store_ms = sorted(stored[r["call_id"]]["store_ms"] for r in completed if "store_ms" in stored[r["call_id"]])
    half = store_ms[: (len(completed) + 1) // 2]
    spread_ms = (max(r["hung_up"] for r in completed) - hung_up) * 1000 if completed else 0.0
    floor_ms = max(0.0, sum(half) - spread_ms) if system.recordings is not None and store_ms else float("nan")
    call_hours = frames * 0.02 / 3600
    requests = sum(stored[r["call_id"]].get("store_requests", 0) for r in completed)
    figures = {
        "cpu_ms": cpu_s * 1e6 / frames,
        "rss_kib": per_call(rss_hang_up),
        "lag_p99": percentile(lags, 0.99),
        "lag_max": lags[-1],
        "store_p50": statistics.median(to_store_ms),
        "store_max": to_store_ms[-1],
        "burst_cpu_ms": burst_s[0] * 1000 / calls,
        "store_floor": floor_ms,
    }
    rows = [
        ("cores", placed),
        (
            "calls stored",
            f"{len(completed)} of {len(results)}" + f" ({len(failed)} failed: {failed[:3]})" * bool(failed),
        ),
        ("bit-exact", "not checked" if inexact is None else ("all" if not inexact else f"NOT: {inexact[:5]}")),
        ("frames recorded", f"{frames}"),
        (
            "CPU",
            f"{figures['cpu_ms']:.1f} ms per 1,000 frames ({cpu_s:.1f} s: {user_s:.1f} user, {system_s:.1f} system)",
        ),
        ("lag p99, max", f"{figures['lag_p99']:.1f} ms, {figures['lag_max']:.1f} ms"),
        (
            "generator's own worst lag",
            f"{send_lag_ms:.1f} ms ({sum(load_cpu_s.values()) * 1e6 / frames:.1f} ms CPU per 1,000 frames)",
        ),
        (
            "RSS per call above idle",
            f"{per_call(rss_20s):.0f} KiB at 20 s, {per_call(rss_hang_up):.0f} KiB at hang-up, "
            f"{per_call(peak_rss):.0f} KiB at peak ({peak_rss / MIB:.0f} MiB; {baseline_rss / MIB:.0f} MiB idle)",
        ),
        ("hang-up to stored p50, max", f"{figures['store_p50']:.0f} ms, {figures['store_max']:.0f} ms"),
        ("CPU from hang-up to last store", burst),
    ]
    if not math.isnan(floor_ms):
        rows.append(
            (
                "stores, one after another",
                f"{statistics.median(store_ms):.2f} ms each at the median; the shortest {len(half)} took "
                f"{sum(half):.0f} ms, the closes spanned {spread_ms:.0f}: no p50 under {floor_ms:.0f} ms",
            )
        )
    if system.spool is not None and args.sink == "gcs":
        rows.append(("peak spool", f"{peak_spool / MIB:.1f} MiB: {peak_spool / 1024 / calls:.0f} KiB per call"))
        rows.append(("store requests", f"{requests / max(call_hours, 1e-9):.0f} per call-hour ({requests} in all)"))
    ok = len(completed) == len(results) and not inexact
    return {"rows": rows, "figures": figures, "ok": ok}


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def not_exact(args: argparse.Namespace, system: System, completed: list[dict[str, Any]]) -> list[str] | None:
    """The calls whose recording is not exactly the audio sent (every call sends a prefix of the same audio)."""
    audio = call_audio(args.seconds + args.ramp, args.rate).data
    recordings: dict[str, bytes] = {}
    if system.recordings is not None:
        # The yardstick's flat directory, or the recorder's YYYY/MM/DD/: never .parts/ (pathlib's * matches dot
        # names), whose directories the recorder removes meanwhile.
        found = [*system.recordings.glob("bench-*.wav"), *system.recordings.glob("[0-9]*/*/*/bench-*.wav")]
        for path in found:
            with wave.open(str(path), "rb") as wav:
                recordings[path.stem] = wav.readframes(wav.getnframes())
    elif system.gcs is not None:
        for blob in system.gcs.client().list_blobs(BUCKET):
            if blob.name.endswith(".wav") and not blob.name.startswith("."):
                recordings[Path(blob.name).stem] = blob.download_as_bytes()[44:]
    else:
        return None
    return [r["call_id"] for r in completed if recordings.get(r["call_id"]) != audio[: r["sent_bytes"]]]


def print_summary(figures: dict[str, list[dict[str, Any]]]) -> None:
    def median(name: str, key: str) -> float:
        runs = [run["figures"][key] for run in figures[name]]
        return statistics.median(runs) if runs else float("nan")

    def spread(name: str, key: str, digits: int) -> str:
        runs = [run["figures"][key] for run in figures[name] if not math.isnan(run["figures"][key])]
        return ", ".join(f"{value:.{digits}f}" for value in runs) or "-"

    print("\nsummary (each round's figure)")
    rows = [
        ("CPU ms per 1,000 frames", "cpu_ms", 1),
        ("RSS per call, KiB", "rss_kib", 0),
        ("lag p99, ms", "lag_p99", 1),
        ("lag max, ms", "lag_max", 1),
        ("hang-up to stored p50, ms", "store_p50", 0),
        ("hang-up to stored max, ms", "store_max", 0),
        ("hang-up CPU per call, ms", "burst_cpu_ms", 2),
        ("hang-up p50 floor, ms", "store_floor", 0),
    ]
    print(f"  {'':<28} {'recorder':<24} {'yardstick':<24}")
    for label, key, digits in rows:
        print(f"  {label:<28} {spread('recorder', key, digits):<24} {spread('yardstick', key, digits):<24}")
    if figures["recorder"] and figures["yardstick"]:
        ratio = median("recorder", "cpu_ms") / median("yardstick", "cpu_ms")
        print(f"  CPU per frame, recorder / yardstick (medians): {ratio:.2f}")


if __name__ == "__main__":
    sys.exit(main())
