"""python -m callsim: place one simulated call against a local or deployed stack."""

from __future__ import annotations

import argparse
import asyncio
import sys

from . import vonage
from .audio import read_wav, sample


def _dtmf(spec: str) -> tuple[float, str]:
    digit, _, at = spec.partition("@")
    try:
        return float(at or 0), digit
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected DIGIT@SECONDS, e.g. 5@1.5, not {spec!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m callsim", description=__doc__)
    parser.add_argument(
        "--answer-url",
        default="http://127.0.0.1:8080/vonage/answer",
        help="the provider's answer URL (default: the local stack's Vonage answer URL)",
    )
    parser.add_argument("--wav", help="16-bit mono WAV to stream (default: the bundled speech sample at --rate)")
    parser.add_argument("--rate", type=int, default=16000, help="rate of the bundled sample to use")
    parser.add_argument("--speed", type=float, default=1.0, help="times real time; 0 streams as fast as possible")
    parser.add_argument("--dtmf", type=_dtmf, action="append", default=[], metavar="DIGIT@SECONDS")
    parser.add_argument(
        "--end",
        choices=("close", "drop"),
        default="close",
        help="close the WebSocket cleanly, or drop the connection without a close frame",
    )
    parser.add_argument("--call-id", help="the call's uuid (default: a new one)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    audio = read_wav(args.wav or sample(args.rate))
    result = asyncio.run(
        vonage.call(args.answer_url, audio, speed=args.speed, dtmf=tuple(args.dtmf), end=args.end, call_id=args.call_id)
    )
    print(
        f"call {result.call_id}: streamed {result.sent_bytes / 2 / audio.sample_rate:.2f} s at "
        f"{audio.sample_rate} Hz, dtmf {''.join(result.dtmf) or '-'}, ended by {args.end}"
        + (f", recorder closed with {result.close_code}" if result.close_code else "")
    )
    return 0 if result.close_code in (None, 1000) else 1


if __name__ == "__main__":
    sys.exit(main())
