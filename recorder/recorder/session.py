"""One call: adapter events -> timeline -> recording (segments in the spool, then the store).

The session knows nothing of sockets: the app feeds it messages and calls `finish()` however the call ended,
and `finish()` stores everything received so far.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

from .closing import CloseCode, ProtocolError, Refused
from .events import Audio, CallEnded, CallStarted, Dtmf, Event, Ignored, Reply
from .protocols import Adapter
from .recording import Recording, claim, object_name, safe_name
from .settings import Settings
from .store import Store
from .timeline import Timeline
from .tokens import token_problem

log = logging.getLogger("recorder.session")

CALL_ID_LIMIT = 128  # characters of a provider's call id kept in the metadata (the object name is safe_name's)


class CallSession:
    def __init__(
        self,
        adapter: Adapter,
        settings: Settings,
        store: Store,
        presented_token: str | None = None,
        claim: Callable[[str], None] = lambda call_id: None,
        spool_dir: Path | None = None,
    ) -> None:
        self._adapter = adapter
        self._settings = settings
        self._store = store
        self._presented_token = presented_token
        self._claim = claim  # refuses a call this worker is already recording
        self._spool_dir = spool_dir or Path(settings.spool_dir)
        self.call: CallStarted | None = None
        self.ended_by_provider = False
        self._provider_end_reason = ""
        self._timeline: Timeline | None = None
        self._recording: Recording | None = None
        self._stream_id = uuid.uuid4().hex
        self._started_at = 0.0
        self._started_mono = 0.0
        self.last_message_at = time.monotonic()
        self._first_audio_at = 0.0  # monotonic clock; 0: no audio yet
        self.worst_lag_s = 0.0  # how far processing trailed the provider's clock: the capacity signal
        self._dtmf: list[dict[str, object]] = []
        self._stored = False
        self._ignored: set[str] = set()

    @property
    def log_fields(self) -> dict[str, str]:
        return {"call_id": self.call.call_id, "provider": self.call.provider} if self.call else {}

    def receive(self, messages: list[str | bytes]) -> list[str]:
        """Take the messages one read brought in, in order; return the text messages the protocol wants sent back
        to the peer (usually none). Nothing after the provider's end of the call is taken."""
        replies: list[str] = []
        # For the lag below, the wall-clock bound on positions, and the lease of a call whose audio paused.
        self.last_message_at = now = time.monotonic()
        if self._recording is not None:
            self._recording.keep_alive(now)
        placed: list[bytes] = []  # the batch's final frames, written in one go (one write per read, not per frame)
        try:
            for message in _binary_runs_joined(messages):
                if self.ended_by_provider:
                    break
                chunks: list[Audio] = []  # the message's audio, a chunk per track
                for event in self._adapter.receive(message):
                    if type(event) is Audio:
                        chunks.append(event)
                        continue
                    if chunks:
                        self._place(chunks, now, placed)
                        chunks = []
                    self._other(event, replies)
                if chunks:
                    self._place(chunks, now, placed)
        finally:
            if placed:  # what was placed is written, whatever a later message raised
                assert self._recording is not None
                self._recording.write(placed[0] if len(placed) == 1 else b"".join(placed))
        return replies

    def _place(self, chunks: list[Audio], now: float, placed: list[bytes]) -> None:
        """One message's audio on the timeline, its tracks together (`Timeline.add_all`); what is final goes to
        `placed`."""
        if self._recording is None or self._timeline is None or self.call is None:
            raise ProtocolError(CloseCode.POLICY_VIOLATION, "audio before the call was authorised")
        self._measure_lag(chunks[0].position / self.call.sample_rate)
        wall = int((now - self._started_mono) * self.call.sample_rate)  # the clock's bound
        if len(chunks) == 1:
            frames = self._timeline.add(*chunks[0], wall)
        else:
            frames = self._timeline.add_all(chunks, wall)
        if frames:
            placed.append(frames)

    def _other(self, event: Event, replies: list[str]) -> None:
        if isinstance(event, CallStarted):
            self._start(event)
        elif isinstance(event, Dtmf) and self._timeline:
            self._dtmf.append({"digit": event.digit, "at_ms": self._timeline.position_ms})
        elif isinstance(event, CallEnded):
            self.ended_by_provider = True
            self._provider_end_reason = event.reason
        elif isinstance(event, Reply):
            replies.append(event.message)
        elif isinstance(event, Ignored) and event.kind not in self._ignored:
            self._ignored.add(event.kind)
            log.info("ignoring %s messages", event.kind, extra=self.log_fields)

    def _measure_lag(self, audio_s: float) -> None:
        now = self.last_message_at
        if not self._first_audio_at:
            self._first_audio_at = now - audio_s
        lag = now - self._first_audio_at - audio_s
        if lag > self.worst_lag_s:
            self.worst_lag_s = lag

    def _start(self, call: CallStarted) -> None:
        if self.call is not None:
            raise ProtocolError(CloseCode.POLICY_VIOLATION, "a second call handshake on one stream")
        # call.provider is the adapter's, and so the /ws/<provider> path's: the token must be for that path.
        token = call.token or self._presented_token
        problem = None
        if token or not call.admitted_at_upgrade:
            problem = token_problem(token, self._settings.secret, call.call_id, call.provider)
        if problem:
            raise Refused(CloseCode.POLICY_VIOLATION, f"{problem} for call {safe_name(call.call_id)}")
        self._claim(call.call_id)
        key = safe_name(call.call_id)
        claim(self._store, key, self._stream_id)  # one stream per call, on every instance
        self.call = call
        self._started_at = time.time()
        self._started_mono = self.last_message_at
        self._timeline = Timeline(call.tracks, call.sample_rate, self._settings.reorder_window_ms)
        manifest = {
            "key": key,
            "stream_id": self._stream_id,
            "object_name": object_name(call.call_id, self._started_at),
            "sample_rate": call.sample_rate,
            "channels": len(call.tracks),
            "metadata": self._metadata(),
        }
        self._recording = Recording(
            self._store,
            self._spool_dir,
            f"{key}.{self._stream_id[:8]}",
            manifest,
            self._settings.segment_s,
            self._settings.upload_deadline_s,
        )
        log.info(
            "call started",
            extra={**self.log_fields, "sample_rate": call.sample_rate, "tracks": list(call.tracks)},
        )

    def finish(self, reason: str) -> str | None:
        """Store the recording; return where it went (None if the call never started, or storing must wait)."""
        if self._recording is None or self._timeline is None:
            return None
        started = time.monotonic()
        if self.ended_by_provider and self._provider_end_reason:
            reason = f"{reason}: {self._provider_end_reason}"
        recording = self._recording
        try:
            for piece in self._timeline.flush():  # bounded pieces, never one block of silence
                recording.write(piece)
        except Exception:
            log.exception("the call's last audio could not be placed", extra=self.log_fields)
        metadata = self._metadata(reason)
        try:
            location = recording.finish(metadata)
        except Exception as error:
            recording.abandon()
            recording.release()
            log.error("storing failed; kept in the spool for retry", extra={**self.log_fields, "error": str(error)})
            return None
        self._stored = True
        log.info(
            "recording stored",
            extra={
                **self.log_fields,
                "location": location,
                "duration_s": metadata["duration_s"],
                "reason": reason,
                "worst_lag_ms": round(self.worst_lag_s * 1000, 1),
                "store_requests": recording.requests,
                # How long storing took (on a directory, all of it this worker's, without a switch): what a burst
                # of hang-ups costs each call, in the order they are stored (the benchmark reads it).
                "store_ms": round((time.monotonic() - started) * 1000, 3),
            },
        )
        return location

    def clean_up(self) -> None:
        """After `finish()` stored the call: remove its parts and spool directory (held until then, so that the
        sweeper leaves them alone). A failure costs nothing stored: the sweeper retries."""
        if self._recording is None:
            return
        try:
            if self._stored:
                self._recording.clean_up()
        except Exception as error:
            log.warning("removing the stored call's parts failed", extra={**self.log_fields, "error": str(error)})
        finally:
            self._recording.release()

    def _metadata(self, reason: str | None = None) -> dict[str, Any]:
        """The call's facts (`metadata.py` is the schema); with `reason`, also how it ended."""
        assert self.call is not None
        call = self.call
        metadata: dict[str, Any] = {
            **call.extra,
            "provider": call.provider,
            "call_id": call.call_id[:CALL_ID_LIMIT],
            "from": call.caller,
            "to": call.callee,
            "started_at": _iso(self._started_at),
            "sample_rate": call.sample_rate,
            "channels": len(call.tracks),
            "tracks": ",".join(call.tracks),
        }
        if reason is None or self._recording is None or self._timeline is None:
            return metadata
        stats = self._timeline.stats
        return {
            **metadata,
            "ended_at": _iso(time.time()),
            "duration_s": round(self._recording.frames / call.sample_rate, 3),
            "clamped": stats.clamped,
            "discontinuities": stats.discontinuities,
            "ahead_drops": stats.ahead_drops,
            "end_reason": reason,
            "dtmf": self._dtmf,
            "gaps": stats.gaps,
            "gap_ms": stats.gap_ms,
            "duplicates": stats.duplicates,
            "late_drops": stats.late,
        }


def _binary_runs_joined(messages: list[str | bytes]) -> list[str | bytes]:
    """Consecutive binary messages as one. Every provider that sends its audio in binary messages sends one byte
    stream (`ByteClock` places it by the running byte count, and carries a partial sample over), so a run of them
    means what their concatenation means: one adapter call, one placed chunk and one lag reading for a read's
    worth of audio, not one each per 20 ms frame. Text messages stay apart: each may start or end the call."""
    if len(messages) < 2:
        return messages
    joined: list[str | bytes] = []
    for kind, run in groupby(messages, type):
        if kind is bytes:
            joined.append(b"".join(run))  # type: ignore[arg-type]
        else:
            joined.extend(run)
    return joined


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
