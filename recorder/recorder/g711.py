"""G.711 mu-law and A-law, via the standard library's audioop (ITU-T G.711 tables; identical to sox's decoder).

audioop is deprecated in 3.11-3.12 and removed in 3.13, where the audioop-lts package provides the same module.
"""

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop


def ulaw_to_pcm16(ulaw: bytes) -> bytes:
    """mu-law bytes -> signed 16-bit little-endian PCM, one sample per byte."""
    return audioop.ulaw2lin(ulaw, 2)


def alaw_to_pcm16(alaw: bytes) -> bytes:
    """A-law bytes -> signed 16-bit little-endian PCM, one sample per byte."""
    return audioop.alaw2lin(alaw, 2)


def pcm16_to_ulaw(pcm: bytes) -> bytes:
    return audioop.lin2ulaw(pcm, 2)
