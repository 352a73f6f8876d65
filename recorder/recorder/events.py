"""The event vocabulary shared by every protocol adapter.

Adapters turn a provider's messages into these events; the call session consumes them. Audio is always
decoded to signed 16-bit little-endian PCM and carries the provider's own position for it, so nothing
downstream needs to know which provider or codec it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


@dataclass(frozen=True)
class CallStarted:
    """The stream's handshake: who the call is, how its audio is shaped, and the token it presented."""

    provider: str
    call_id: str
    sample_rate: int
    tracks: tuple[str, ...]  # in channel order: tracks[0] becomes the WAV's channel 0 (left)
    token: str | None = None
    caller: str = ""
    callee: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    # Genesys AudioHook and Asterisk present no per-call token: their upgrade's credentials (an API key, HTTP
    # Basic) admit the stream, checked before the 101. A token presented anyway is still checked.
    admitted_at_upgrade: bool = False


class Audio(NamedTuple):
    """PCM for one track, starting at `position` samples from the start of that track's stream. A tuple, not a
    frozen dataclass like the rest: one is made for every frame, and it is made in a third of the time."""

    track: str
    position: int
    pcm: bytes


@dataclass(frozen=True)
class Dtmf:
    digit: str
    duration_ms: int | None = None


@dataclass(frozen=True)
class TrackEnded:
    track: str


@dataclass(frozen=True)
class CallEnded:
    reason: str


@dataclass(frozen=True)
class Ignored:
    """A message understood well enough to skip (a mark, an unknown event): logged once per kind."""

    kind: str


@dataclass(frozen=True)
class Reply:
    """A text message the protocol requires the recorder to send back (Genesys AudioHook answers `open` with
    `opened`, `ping` with `pong`): the socket loop sends it as it is."""

    message: str


Event = CallStarted | Audio | Dtmf | TrackEnded | CallEnded | Ignored | Reply
