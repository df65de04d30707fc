"""The override label's record on the candidate run (see ci_track/gate/override.py): who, when, and its removal."""

from __future__ import annotations

import datetime

from ci_track.gate.override import OVERRIDE_TAGS, REMOVED_TAG, OverrideState, override_tags
from ci_track.tracking.client import MlflowClient
from ci_track.tracking.runs import Run


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def record_override(client: MlflowClient, run: Run, state: OverrideState | None, *, accepted: bool) -> None:
    """Tag the run when the label accepted its regression; when the label is gone, replace those tags.

    At most one log-batch request (plus one delete per tag on removal); nothing without a PR payload.
    """
    if state is None:
        return
    if accepted:
        client.log_batch(run.run_id, tags=override_tags(state))
        return
    if not state.present and any(tag in run.tags for tag in OVERRIDE_TAGS):
        client.set_tag(run.run_id, REMOVED_TAG, state.when)
        for tag in OVERRIDE_TAGS:
            if tag in run.tags:
                client.delete_tag(run.run_id, tag)
