"""The local spool: results `ci-track run` could not upload are kept here until `ci-track sync`.

A spool entry is one JSON file per run under `.ci-track/spool/` in the working directory
(or CI_TRACK_SPOOL_DIR). It holds exactly what remained to be sent: the log-batch requests not
yet accepted (already split and timestamped, so a resend is identical), the final status, and the
completion tags sent after the status (`ci.exit_code`: a run counts as complete only once it has them).
`sync` sends an entry and deletes it after the server took all of it; the entry is first
renamed to `*.sending` so two concurrent syncs never send it twice.
Tokens never enter the spool: only run data and the tracking URI (credentials stripped).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ci_track.secrets import strip_url_credentials

SPOOL_VERSION = 2
_READABLE_VERSIONS = (1, 2)  # version 1 had no final_tags: its tags travelled in the batches


def default_spool_dir(environ: Mapping[str, str], cwd: Path) -> Path:
    configured = environ.get("CI_TRACK_SPOOL_DIR")
    return Path(configured) if configured else cwd / ".ci-track" / "spool"


@dataclasses.dataclass(frozen=True, kw_only=True)
class PendingResults:
    """What is still to be sent to one run."""

    tracking_uri: str
    run_id: str
    batches: tuple[Mapping[str, Any], ...] = ()  # log-batch request bodies, run_id included
    status: str | None = None  # FINISHED | FAILED | KILLED
    end_time: int | None = None
    final_tags: Mapping[str, str] = dataclasses.field(default_factory=dict)  # sent last, after the status

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": SPOOL_VERSION,
                "tracking_uri": strip_url_credentials(self.tracking_uri),
                "run_id": self.run_id,
                "batches": list(self.batches),
                "status": self.status,
                "end_time": self.end_time,
                "final_tags": dict(self.final_tags),
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> PendingResults:
        raw = json.loads(text)
        if raw.get("version") not in _READABLE_VERSIONS:
            raise ValueError(f"unsupported spool version {raw.get('version')!r}")
        return cls(
            tracking_uri=raw["tracking_uri"],
            run_id=raw["run_id"],
            batches=tuple(raw.get("batches", [])),
            status=raw.get("status"),
            end_time=raw.get("end_time"),
            final_tags=dict(raw.get("final_tags") or {}),
        )


def write_spool(spool_dir: Path, pending: PendingResults) -> Path:
    """Write atomically (temp file + rename), so a crash never leaves half an entry."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    path = spool_dir / f"{pending.run_id}.json"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(pending.to_json(), encoding="utf-8")
    os.replace(temporary, path)
    return path


def list_spool(spool_dir: Path) -> list[Path]:
    if not spool_dir.is_dir():
        return []
    return sorted(spool_dir.glob("*.json"))
