"""Sends the end of a run (metrics, tags, final status, completion tags) and spools whatever the server did not take.

The order is what makes a run trustworthy: metrics and tags first, then the final status, and
last the completion tags (`ci.exit_code`). A run counts as a candidate or champion only once it
carries `ci.exit_code` (see champion.py), so a run whose end was cut off by a server failure
never counts until `ci-track sync` has sent the rest, whatever status the training script set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ci_track.errors import TrackingError
from ci_track.tracking.batches import now_ms, plan_log_batches
from ci_track.tracking.client import MlflowClient
from ci_track.tracking.spool import PendingResults, default_spool_dir, write_spool


def finish_run(
    client: MlflowClient,
    environ: Mapping[str, str],
    cwd: Path,
    *,
    run_id: str,
    metrics: Sequence[Mapping[str, Any]],
    tags: Mapping[str, str],
    status: str,
    final_tags: Mapping[str, str],
) -> None:
    """Log metrics and tags, set the final status, then the completion tags; on failure spool the rest and raise.

    The requests are sent in order and the spool keeps only those not yet accepted, so a later
    `ci-track sync` sends each item exactly once.
    """
    pending = PendingResults(
        tracking_uri=client.uri,
        run_id=run_id,
        batches=tuple(plan_log_batches(run_id, metrics=metrics, params={}, tags=tags)),
        status=status,
        end_time=now_ms(),
        final_tags=final_tags,
    )
    send_pending(client, pending, spool_dir=default_spool_dir(environ, cwd))


def send_pending(client: MlflowClient, pending: PendingResults, *, spool_dir: Path) -> None:
    sent = 0
    status_sent = False
    try:
        for batch in pending.batches:
            client.send_log_batch(batch)
            sent += 1
        if pending.status:
            client.update_run(pending.run_id, pending.status, end_time=pending.end_time)
        status_sent = True
        if pending.final_tags:
            client.log_batch(pending.run_id, tags=pending.final_tags)
    except TrackingError as error:
        rest = PendingResults(
            tracking_uri=pending.tracking_uri,
            run_id=pending.run_id,
            batches=pending.batches[sent:],
            status=None if status_sent else pending.status,
            end_time=pending.end_time,
            final_tags=pending.final_tags,
        )
        path = write_spool(spool_dir, rest)
        raise TrackingError(
            f"{error} -- the results of run {pending.run_id} are saved in {path}; "
            "run `ci-track sync` when the server is back",
            url=error.url,
            status=error.status,
            error_code=error.error_code,
        ) from None
