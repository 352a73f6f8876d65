"""python -m callsim: place one simulated call against a local or deployed stack, as the provider would."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

from . import vonage
from .audio import AudioError, read_audio, track
from .common import CallResult, Impairments, StreamOptions
from .progress import explain, find_in_bucket, find_recording, with_counter
from .providers import DIALERS
from .providers import PROVIDERS as PROVIDERS  # re-exported: ops.smoke reads it from here

SIMULATORS = {**PROVIDERS, **DIALERS}  # DIALERS dial the recorder, with credentials from the environment

DTMF_DIGITS = "0123456789*#ABCD"  # RFC 4733 section 3.2's sixteen DTMF events
G711_RATE = 8000  # G.711 (mu-law, A-law) is 8 kHz only


def _dtmf(spec: str) -> tuple[float, str]:
    digit, _, at = spec.partition("@")
    if len(digit) != 1 or digit.upper() not in DTMF_DIGITS:
        raise argparse.ArgumentTypeError(f"the digit must be one of 0-9 * # A-D, not {digit!r} (in {spec!r})")
    try:
        seconds = float(at or 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected DIGIT@SECONDS, e.g. 5@1.5, not {spec!r}") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"a digit cannot come before the call starts: {spec!r}")
    return seconds, digit.upper()


def _chunks(spec: str) -> frozenset[int]:
    try:
        return frozenset(int(n) for n in spec.split(",") if n)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected chunk numbers like 10,11,50, not {spec!r}") from None


def _speed(spec: str) -> float:
    try:
        speed = float(spec)
    except ValueError:
        speed = -1
    if speed < 0:
        raise argparse.ArgumentTypeError(f"expected 0 (as fast as possible) or a positive factor, not {spec!r}")
    return speed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m callsim", description=__doc__)
    parser.add_argument("--provider", choices=SIMULATORS, default="vonage")
    local = f"http://127.0.0.1:{os.environ.get('FUNCTION_PORT', '8080')}"
    parser.add_argument("--function-url", default=local, help=f"the answer function's base URL (default {local})")
    recorder = f"ws://127.0.0.1:{os.environ.get('RECORDER_PORT', '8000')}"
    parser.add_argument(
        "--recorder-url", default=recorder, help=f"for AudioHook and Asterisk, which dial it (default {recorder})"
    )
    parser.add_argument("--answer-url", help="the full answer URL (default: the provider's path on --function-url)")
    parser.add_argument(
        "--wav",
        metavar="FILE",
        help="the caller's audio: any file libsndfile reads (WAV of any bit depth, FLAC, Ogg, MP3, ...), "
        "mixed to mono and resampled to the stream's rate (default: the bundled speech sample)",
    )
    parser.add_argument("--wav2", metavar="FILE", help="the second track's audio, Twilio/SignalWire/Voxology")
    parser.add_argument("--one-track", action="store_true", help="stream the caller's track only")
    parser.add_argument(
        "--rate",
        type=int,
        choices=(8000, 16000, 24000),
        help="SignalWire L16's rate (default 16000); Vonage's is the NCCO's, and G.711 is 8000",
    )
    parser.add_argument(
        "--encoding",
        choices=("mulaw", "alaw", "l16"),
        help="media encoding, where the provider offers a choice (default: the first it offers)",
    )
    parser.add_argument("--speed", type=_speed, default=1.0, help="times real time; 0 streams as fast as possible")
    parser.add_argument(
        "--dtmf",
        type=_dtmf,
        action="append",
        default=[],
        metavar="DIGIT@SECONDS",
        help="send a DTMF digit (0-9 * # A-D) at that point of the audio (Vonage, Twilio, Telnyx, Plivo)",
    )
    parser.add_argument("--drop", type=_chunks, default=frozenset(), metavar="N,N", help="20 ms chunks never sent")
    parser.add_argument("--duplicate", type=_chunks, default=frozenset(), metavar="N,N", help="chunks sent twice")
    parser.add_argument(
        "--reorder", type=_chunks, default=frozenset(), metavar="N,N", help="chunks sent after their successor"
    )
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="send each chunk up to this much late")
    parser.add_argument("--no-stop", action="store_true", help="end without the stop / end_stream message")
    parser.add_argument("--late-ms", type=int, default=0, help="the second track starts this much later")
    parser.add_argument(
        "--end",
        choices=("close", "drop"),
        default="close",
        help="close the WebSocket cleanly, or drop the connection without a close frame",
    )
    parser.add_argument("--call-id", help="the call's id (default: a new one)")
    parser.add_argument(
        "--recordings",
        type=Path,
        default=Path(os.environ.get("RECORDINGS_DIR") or "recordings"),
        help="where the local stack stores recordings, to report the call's (default: $RECORDINGS_DIR or ./recordings)",
    )
    args = parser.parse_args(argv)
    encodings = SIMULATORS[args.provider].encodings
    args.encoding = args.encoding or encodings[0]
    if args.encoding not in encodings:
        parser.error(f"{args.provider} streams {' or '.join(encodings)}, not {args.encoding}")
    if args.rate and not (args.provider != "vonage" and args.encoding == "l16"):
        parser.error("--rate applies to --encoding l16 only: Vonage streams at the NCCO's rate, G.711 at 8000 Hz")
    try:
        length_s = read_audio(args.wav).duration_s if args.wav else track(None, G711_RATE).duration_s
    except AudioError as error:
        parser.exit(2, f"error: {error}\n")
    late = [f"{digit}@{at:g}" for at, digit in args.dtmf if at > length_s]
    if late:
        parser.error(f"--dtmf {' '.join(late)}: after the end of the audio ({length_s:.2f} s)")
    args.length_s = length_s
    return args


async def place(args: argparse.Namespace, answer_url: str) -> tuple[CallResult, float, int]:
    """The call, how many seconds of audio it sent (all tracks together), and on how many tracks."""
    provider = SIMULATORS[args.provider]
    if args.provider == "vonage":
        # The stream's rate is the one the NCCO asks for (SAMPLE_RATE): the audio follows it, never the reverse.
        call_id = args.call_id or str(uuid.uuid4())
        ncco = await asyncio.to_thread(vonage.fetch_ncco, answer_url, call_id, "15550100001", "15550100002")
        endpoint = vonage.websocket_endpoint(ncco)
        rate = _l16_rate(endpoint.get("content-type", "audio/l16;rate=16000"))
        caller = track(args.wav, rate)
        result = await vonage.stream(
            endpoint, caller, call_id=call_id, speed=args.speed, dtmf=tuple(args.dtmf), end=args.end
        )
        return result, result.sent_bytes / 2 / rate, 1
    l16 = args.encoding == "l16"
    rate = (args.rate or 16000) if l16 else G711_RATE
    tracks = {provider.tracks[0]: track(args.wav, rate)}
    if len(provider.tracks) > 1 and not args.one_track:
        tracks[provider.tracks[1]] = track(args.wav2, rate, "agent")
    options = StreamOptions(
        speed=args.speed,
        impairments=Impairments(args.drop, args.duplicate, args.reorder, args.jitter_ms, args.late_ms),
        send_end=not args.no_stop,
        end=args.end,
        encoding=args.encoding,
        dtmf=tuple(args.dtmf),
    )
    result = await provider.place(answer_url, tracks, options, args.call_id)
    return result, result.sent_bytes / (2 if l16 else 1) / rate, len(tracks)


def _l16_rate(content_type: str) -> int:
    kind, _, rate = content_type.partition(";rate=")
    if kind != "audio/l16" or not rate.isdigit():
        raise ValueError(f"the NCCO asks for {content_type!r}; the simulator streams audio/l16;rate=N")
    return int(rate)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base = args.recorder_url if args.provider in DIALERS else args.function_url
    answer_url = args.answer_url or base.rstrip("/") + SIMULATORS[args.provider].answer_path
    started = time.time()
    try:
        call = with_counter(place(args, answer_url), f"{args.provider} call", args.length_s, args.speed)
        result, sent_s, tracks = asyncio.run(call)
    except KeyboardInterrupt:  # asyncio.run has cancelled the call: its WebSocket closed cleanly on the way out
        print(f"{args.provider} call: hung up with Ctrl-C", file=sys.stderr)
        return 130  # 128 + SIGINT, as a shell reports it
    except Exception as error:
        message = explain(error, answer_url)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1
    closed = f", the recorder closed with {result.close_code}" if result.close_code else ""
    over = f" over {tracks} tracks" if tracks > 1 else ""
    print(f"{args.provider} call {result.call_id}: sent {sent_s:.2f} s of audio{over}, ended by {args.end}{closed}")
    ok = result.close_code in (None, 1000)
    return _report_recording(args, answer_url, result.call_id, started) if ok else 1


def _report_recording(args: argparse.Namespace, answer_url: str, call_id: str, started: float) -> int:
    """Where the recording went, read back from the local stack's directory or bucket; elsewhere, where to look."""
    if urlparse(answer_url).hostname not in ("127.0.0.1", "localhost"):
        print("stored by the deployed recorder: its log line `recording stored` names the object")
        return 0
    bucket = os.environ.get("RECORDINGS_BUCKET")
    if bucket:
        try:
            stored = find_in_bucket(bucket, call_id, since=started - 1)
        except Exception as error:  # no credentials, no such bucket, no network: the recording is still there
            print(f"stored in gs://{bucket}, which cannot be listed from here ({type(error).__name__})")
            return 0
        where = f"gs://{bucket}"
    else:
        stored = find_recording(args.recordings, call_id, since=started - 1)
        where = f"{args.recordings}/"
    if stored is None:
        print(
            f"no recording for call {call_id} under {where} (see the recorder's log; is RECORDINGS_DIR or"
            " RECORDINGS_BUCKET the one `make run` uses?)",
            file=sys.stderr,
        )
        return 1
    channels = "mono" if stored.channels == 1 else f"{stored.channels} channels"
    shown = _shown(stored.where)
    print(f"stored {stored.duration_s:.2f} s, {stored.sample_rate} Hz {channels}: {shown}")
    if bucket:
        print(f"metadata: gcloud storage objects describe {shown}")
    else:
        print(f"metadata: {shown.removesuffix('.wav')}.json")
    return 0


def _shown(where: str) -> str:
    """A path under the current directory as a relative one (recordings/2026/...), as the README shows it."""
    path = Path(where)
    return str(path.relative_to(Path.cwd())) if path.is_absolute() and path.is_relative_to(Path.cwd()) else where


if __name__ == "__main__":
    sys.exit(main())
