"""One call: adapter events -> timeline -> WAV spool file -> store.

The session knows nothing of sockets: the app feeds it messages and calls `finish()` however the call ended,
and `finish()` stores everything received so far.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from .closing import CloseCode, ProtocolError, Refused
from .events import Audio, CallEnded, CallStarted, Dtmf, Ignored
from .protocols import Adapter
from .settings import Settings
from .spool import SpoolEntry
from .store import Store
from .timeline import Timeline
from .tokens import token_problem
from .wav import WavWriter

log = logging.getLogger("recorder.session")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(call_id: str) -> str:
    """A call id as a file and object name: no path separators, no leading dot, bounded length."""
    return _UNSAFE.sub("_", call_id)[:128].lstrip(".") or "call"


class CallSession:
    def __init__(
        self,
        adapter: Adapter,
        settings: Settings,
        store: Store,
        presented_token: str | None = None,
        claim: Callable[[str], None] = lambda call_id: None,
    ) -> None:
        self._adapter = adapter
        self._settings = settings
        self._store = store
        self._presented_token = presented_token
        self._claim = claim  # refuses a call that is already being recorded
        self.call: CallStarted | None = None
        self.ended_by_provider = False
        self._timeline: Timeline | None = None
        self._writer: WavWriter | None = None
        self._spool: SpoolEntry | None = None
        self._started_at = 0.0
        self._started_mono = 0.0
        self.last_message_at = time.monotonic()
        self._first_audio_at = 0.0  # monotonic clock; 0: no audio yet
        self.worst_lag_s = 0.0  # how far processing trailed the provider's clock: the capacity signal
        self._dtmf: list[dict[str, object]] = []
        self._ignored: set[str] = set()

    @property
    def log_fields(self) -> dict[str, str]:
        return {"call_id": self.call.call_id, "provider": self.call.provider} if self.call else {}

    def receive(self, message: str | bytes) -> list[str]:
        """Take one message; return the text messages to send back to the peer (none, for these providers)."""
        self.last_message_at = time.monotonic()  # for the lag below and the wall-clock bound on positions
        for event in self._adapter.receive(message):
            if type(event) is Audio:
                if self._writer is None or self._timeline is None or self.call is None:
                    raise ProtocolError(CloseCode.POLICY_VIOLATION, "audio before the call was authorised")
                self._measure_lag(event.position / self.call.sample_rate)
                wall = int((self.last_message_at - self._started_mono) * self.call.sample_rate)  # the clock's bound
                frames = self._timeline.add(event.track, event.position, event.pcm, wall)
                if frames:
                    self._writer.write(frames)
            elif isinstance(event, CallStarted):
                self._start(event)
            elif isinstance(event, Dtmf) and self._timeline:
                self._dtmf.append({"digit": event.digit, "at_ms": self._timeline.position_ms})
            elif isinstance(event, CallEnded):
                self.ended_by_provider = True
            elif isinstance(event, Ignored) and event.kind not in self._ignored:
                self._ignored.add(event.kind)
                log.info("ignoring %s messages", event.kind, extra=self.log_fields)
        return []

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
        problem = token_problem(token, self._settings.secret, call.call_id, call.provider)
        if problem:
            raise Refused(CloseCode.POLICY_VIOLATION, f"{problem} for call {safe_name(call.call_id)}")
        self._claim(call.call_id)
        self.call = call
        self._started_at = time.time()
        self._started_mono = self.last_message_at
        self._timeline = Timeline(call.tracks, call.sample_rate, self._settings.reorder_window_ms)
        name = safe_name(call.call_id)
        wav_path = os.path.join(self._settings.spool_dir, f"{name}.{uuid.uuid4().hex[:8]}.wav")
        self._spool = SpoolEntry(wav_path, self._object_name(), self._metadata(), len(call.tracks))
        self._writer = WavWriter(wav_path, call.sample_rate, len(call.tracks))
        log.info(
            "call started",
            extra={**self.log_fields, "sample_rate": call.sample_rate, "tracks": list(call.tracks)},
        )

    def finish(self, reason: str) -> str | None:
        """Finalize and store the recording; return where it went (None if the call never started)."""
        if self._writer is None or self._timeline is None or self._spool is None:
            return None
        for piece in self._timeline.flush():  # bounded pieces, never one block of silence
            self._writer.write(piece)
        self._writer.close()
        metadata = self._metadata(reason)
        self._spool.update(metadata, finished=True)
        try:
            location = self._store.save(self._writer.path, self._object_name(), metadata)
        except Exception:
            log.exception("storing failed; kept in the spool for retry", extra=self.log_fields)
            self._spool.release()
            return None
        self._spool.remove()  # only now that the store has confirmed
        log.info(
            "recording stored",
            extra={
                **self.log_fields,
                "location": location,
                "duration_s": metadata["duration_s"],
                "reason": reason,
                "worst_lag_ms": round(self.worst_lag_s * 1000, 1),
            },
        )
        return location

    def _object_name(self) -> str:
        assert self.call is not None
        day = datetime.fromtimestamp(self._started_at, UTC).strftime("%Y/%m/%d")
        return f"{day}/{safe_name(self.call.call_id)}.wav"

    def _metadata(self, reason: str | None = None) -> dict[str, str]:
        """The call's facts; with `reason`, also how it ended (before that: what a crash would leave)."""
        assert self.call is not None
        call = self.call
        metadata = {
            **call.extra,
            "provider": call.provider,
            "call_id": call.call_id,
            "from": call.caller,
            "to": call.callee,
            "started_at": _iso(self._started_at),
            "sample_rate": str(call.sample_rate),
            "channels": str(len(call.tracks)),
            "tracks": ",".join(call.tracks),
        }
        if reason is None or self._writer is None or self._timeline is None:
            return metadata
        stats = self._timeline.stats
        return {
            **metadata,
            "ended_at": _iso(time.time()),
            "duration_s": f"{self._writer.frames / call.sample_rate:.3f}",
            "dtmf": json.dumps(self._dtmf, separators=(",", ":")),
            "gaps": str(stats.gaps),
            "gap_ms": str(stats.gap_ms),
            "duplicates": str(stats.duplicates),
            "late_drops": str(stats.late),
            "clamped": str(stats.clamped),
            "discontinuities": str(stats.discontinuities),
            "ahead_drops": str(stats.ahead_drops),
            "end_reason": reason,
        }


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
