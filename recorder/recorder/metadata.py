"""The recording's metadata: one schema, written as typed JSON beside a local WAV and as strings on a Cloud
Storage object (custom metadata values are strings, at most 8 KiB in total per object).

README.md ("Recording metadata") lists every field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Cloud Storage: "the total size of all custom metadata key-value pairs for an object is limited to 8 KiB"
# (docs: Object metadata, Custom metadata). Keep well under it, so that a long IVR session or a provider's long
# headers never make the object impossible to store.
GCS_METADATA_BUDGET = 7 * 1024
DTMF_BUDGET = 2 * 1024  # of that, for the key presses; the rest are counted in dtmf_truncated
EXTRA_VALUE_LIMIT = 256  # a provider header or parameter copied into the metadata

# The fields the recorder itself writes, in the order they are listed in the README; anything else on a
# recording is a provider extra (Vonage's headers, for instance), kept only while the budget allows.
FIELDS = (
    "provider",
    "call_id",
    "from",
    "to",
    "started_at",
    "sample_rate",
    "channels",
    "tracks",
    "ended_at",
    "duration_s",
    "end_reason",
    "recovered",
    "dtmf",
    "dtmf_truncated",
    "gaps",
    "gap_ms",
    "duplicates",
    "late_drops",
    "clamped",
    "discontinuities",
    "ahead_drops",
    "stream_id",
)


def for_gcs(metadata: Mapping[str, Any]) -> dict[str, str]:
    """Strings within the budget: the recorder's fields first, extras while they fit, key presses capped."""
    out: dict[str, str] = {}
    for key in FIELDS:
        if key in metadata and key != "dtmf":
            out[key] = _string(metadata[key])
    dtmf = list(metadata.get("dtmf", []))
    if dtmf:
        kept = dtmf
        while kept and len(_string(kept)) > DTMF_BUDGET:
            kept = kept[: len(kept) * 3 // 4]
        out["dtmf"] = _string(kept)
        if len(kept) < len(dtmf):
            out["dtmf_truncated"] = str(len(dtmf) - len(kept) + int(metadata.get("dtmf_truncated", 0)))
    used = _size(out)
    for key, value in metadata.items():
        if key in FIELDS or key in out:
            continue
        text = _string(value)[:EXTRA_VALUE_LIMIT]
        if used + len(key) + len(text) > GCS_METADATA_BUDGET:
            break  # the rest of the provider's extras do not fit; the audio and the recorder's fields do
        out[key[:64]] = text
        used += len(key) + len(text)
    return out


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _size(metadata: Mapping[str, str]) -> int:
    return sum(len(key.encode()) + len(value.encode()) for key, value in metadata.items())
