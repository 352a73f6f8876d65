"""python -m callsim: place one simulated call against a local or deployed stack, as the provider would."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from . import twilio, vonage, voxology
from .audio import read_wav, sample
from .common import CallResult, Impairments

# provider -> (answer path, its two tracks' names)
PROVIDERS = {
    "vonage": ("/vonage/answer", ("mix",)),
    "twilio": ("/twilio/answer", ("inbound", "outbound")),
    "signalwire": ("/twilio/answer", ("inbound", "outbound")),
    "voxology": ("/voxology/answer", ("caller", "transfer")),
}


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
    parser.add_argument("--provider", choices=PROVIDERS, default="vonage")
    local = f"http://127.0.0.1:{os.environ.get('FUNCTION_PORT', '8080')}"
    parser.add_argument("--function-url", default=local, help=f"the answer function's base URL (default {local})")
    parser.add_argument("--answer-url", help="the full answer URL (default: the provider's path on --function-url)")
    parser.add_argument("--wav", help="16-bit mono WAV for the caller (default: the bundled speech sample)")
    parser.add_argument("--wav2", help="WAV for the second track, Twilio/SignalWire/Voxology (default: a sample)")
    parser.add_argument("--one-track", action="store_true", help="stream the caller's track only")
    parser.add_argument("--rate", type=int, help="rate of the bundled samples (default: 16000 Vonage, else 8000)")
    parser.add_argument(
        "--encoding",
        choices=("mulaw", "l16"),
        default="mulaw",
        help="Twilio/SignalWire media encoding (l16: SignalWire's codec L16@<rate>h)",
    )
    parser.add_argument("--speed", type=float, default=1.0, help="times real time; 0 streams as fast as possible")
    parser.add_argument(
        "--dtmf",
        type=_dtmf,
        action="append",
        default=[],
        metavar="DIGIT@SECONDS",
        help="Vonage: send a DTMF event at that point",
    )
    parser.add_argument("--drop", type=_chunks, default=frozenset(), metavar="N,N", help="20 ms chunks never sent")
    parser.add_argument("--duplicate", type=_chunks, default=frozenset(), metavar="N,N", help="chunks sent twice")
    parser.add_argument(
        "--reorder", type=_chunks, default=frozenset(), metavar="N,N", help="chunks sent after their successor"
    )
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="send each chunk up to this much late")
    parser.add_argument("--no-stop", action="store_true", help="end without the stop / end_stream message")
    parser.add_argument(
        "--end",
        choices=("close", "drop"),
        default="close",
        help="close the WebSocket cleanly, or drop the connection without a close frame",
    )
    parser.add_argument("--call-id", help="the call's id (default: a new one)")
    return parser.parse_args(argv)


async def place(args: argparse.Namespace) -> tuple[CallResult, float]:
    path, names = PROVIDERS[args.provider]
    answer_url = args.answer_url or args.function_url.rstrip("/") + path
    rate = args.rate or (16000 if args.provider == "vonage" or args.encoding == "l16" else 8000)
    caller = read_wav(args.wav or sample(rate))
    if args.provider == "vonage":
        result = await vonage.call(
            answer_url, caller, speed=args.speed, dtmf=tuple(args.dtmf), end=args.end, call_id=args.call_id
        )
        return result, caller.duration_s
    tracks = {names[0]: caller}
    if not args.one_track:
        tracks[names[1]] = read_wav(args.wav2 or sample(rate, "agent"))
    impairments = Impairments(args.drop, args.duplicate, args.reorder, args.jitter_ms)
    if args.provider == "voxology":
        result = await voxology.call(
            answer_url,
            tracks,
            speed=args.speed,
            impairments=impairments,
            send_end=not args.no_stop,
            end=args.end,
            call_id=args.call_id,
        )
    else:
        result = await twilio.call(
            answer_url,
            tracks,
            encoding=args.encoding,
            dialect=args.provider,
            speed=args.speed,
            impairments=impairments,
            send_stop=not args.no_stop,
            end=args.end,
            call_id=args.call_id,
        )
    return result, caller.duration_s


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result, seconds = asyncio.run(place(args))
    closed = f", the recorder closed with {result.close_code}" if result.close_code else ""
    print(f"{args.provider} call {result.call_id}: streamed {seconds:.2f} s, ended by {args.end}{closed}")
    return 0 if result.close_code in (None, 1000) else 1


if __name__ == "__main__":
    sys.exit(main())
