"""python -m callsim: place one simulated call against a local or deployed stack, as the provider would."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from .audio import read_wav, sample
from .common import CallResult, Impairments, StreamOptions
from .providers import DIALERS
from .providers import PROVIDERS as PROVIDERS  # re-exported: ops.smoke reads it from here

SIMULATORS = {**PROVIDERS, **DIALERS}


def _dtmf(spec: str) -> tuple[float, str]:
    digit, _, at = spec.partition("@")
    try:
        return float(at or 0), digit
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected DIGIT@SECONDS, e.g. 5@1.5, not {spec!r}") from None


def _chunks(spec: str) -> frozenset[int]:
    try:
        return frozenset(int(n) for n in spec.split(",") if n)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected chunk numbers like 10,11,50, not {spec!r}") from None


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
    parser.add_argument("--wav", help="16-bit mono WAV for the caller (default: the bundled speech sample)")
    parser.add_argument("--wav2", help="WAV for the second track, Twilio/SignalWire/Voxology (default: a sample)")
    parser.add_argument("--one-track", action="store_true", help="stream the caller's track only")
    parser.add_argument("--rate", type=int, help="rate of the bundled samples (default: 16000 Vonage, else 8000)")
    parser.add_argument(
        "--encoding",
        choices=("mulaw", "alaw", "l16"),
        help="media encoding, where the provider offers a choice (default: the first it offers)",
    )
    parser.add_argument("--speed", type=float, default=1.0, help="times real time; 0 streams as fast as possible")
    parser.add_argument(
        "--dtmf",
        type=_dtmf,
        action="append",
        default=[],
        metavar="DIGIT@SECONDS",
        help="send a DTMF event at that point (Vonage, Twilio, Telnyx, Plivo)",
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
    return parser.parse_args(argv)


async def place(args: argparse.Namespace) -> tuple[CallResult, float]:
    provider = SIMULATORS[args.provider]
    encoding = args.encoding or provider.encodings[0]
    if encoding not in provider.encodings:
        raise SystemExit(f"{args.provider} streams {' or '.join(provider.encodings)}, not {encoding}")
    base = args.recorder_url if args.provider in DIALERS else args.function_url  # DIALERS: credentials from the env
    answer_url = args.answer_url or base.rstrip("/") + provider.answer_path
    rate = args.rate or (16000 if encoding == "l16" else 8000)
    caller = read_wav(args.wav or sample(rate))
    tracks = {provider.tracks[0]: caller}
    if len(provider.tracks) > 1 and not args.one_track:
        tracks[provider.tracks[1]] = read_wav(args.wav2 or sample(rate, "agent"))
    options = StreamOptions(
        speed=args.speed,
        impairments=Impairments(args.drop, args.duplicate, args.reorder, args.jitter_ms, args.late_ms),
        send_end=not args.no_stop,
        end=args.end,
        encoding=encoding,
        dtmf=tuple(args.dtmf),
    )
    return await provider.place(answer_url, tracks, options, args.call_id), caller.duration_s


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result, seconds = asyncio.run(place(args))
    closed = f", the recorder closed with {result.close_code}" if result.close_code else ""
    print(f"{args.provider} call {result.call_id}: streamed {seconds:.2f} s, ended by {args.end}{closed}")
    return 0 if result.close_code in (None, 1000) else 1


if __name__ == "__main__":
    sys.exit(main())
