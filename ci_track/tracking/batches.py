"""log-batch requests cut to the tracking server's limits, and MLflow's JSON encoding of values (pure).

`plan_log_batches` splits metrics, params and tags into the fewest requests the server accepts
(mlflow/utils/validation.py's limits); `ci-track run` sends them and the spool keeps the ones the
server did not take, already split and timestamped, so a resend is identical.
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from ci_track.errors import UsageError
from ci_track.report.text import cut

# log-batch limits of the server (mlflow/utils/validation.py)
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100
MAX_ITEMS_PER_BATCH = 1000
MAX_BATCH_BYTES = 1_000_000
MAX_TAG_VALUE = 8000
MAX_PARAM_VALUE = 6000


def now_ms() -> int:
    return int(time.time() * 1000)


def encode_metric_value(value: float) -> float | str:
    """JSON has no NaN: a bare NaN is stored as 0 by the server, the string "NaN" as NaN."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def plan_log_batches(
    run_id: str,
    *,
    metrics: Iterable[Mapping[str, Any]],
    params: Mapping[str, str],
    tags: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Split a log-batch into requests within the server's per-request limits (pure)."""
    timestamp = now_ms()
    items: list[tuple[str, dict[str, Any]]] = [
        (
            "metrics",
            {
                "key": m["key"],
                "value": encode_metric_value(float(m["value"])),
                "timestamp": int(m.get("timestamp") or timestamp),
                "step": int(m.get("step") or 0),
            },
        )
        for m in metrics
    ]
    for key, value in params.items():
        if len(str(value)) > MAX_PARAM_VALUE:
            raise UsageError(f"param {key!r} is longer than MLflow's limit of {MAX_PARAM_VALUE} characters")
        items.append(("params", {"key": key, "value": str(value)}))
    items += [("tags", {"key": k, "value": cut(str(v), MAX_TAG_VALUE)}) for k, v in tags.items()]
    queues: dict[str, deque[dict[str, Any]]] = {"params": deque(), "tags": deque(), "metrics": deque()}
    for kind, item in items:
        queues[kind].append(item)
    limits = {"params": MAX_PARAMS_PER_BATCH, "tags": MAX_TAGS_PER_BATCH, "metrics": MAX_METRICS_PER_BATCH}
    batches: list[dict[str, Any]] = []
    # Each request takes as many params and tags as allowed, then fills up with metrics: the fewest requests.
    while any(queues.values()):
        batch: dict[str, Any] = {"run_id": run_id}
        size = len(dumps(batch)) + 30
        total = 0
        for kind in ("params", "tags", "metrics"):
            queue = queues[kind]
            taken = 0
            while queue and taken < limits[kind] and total < MAX_ITEMS_PER_BATCH:
                item_size = len(dumps(queue[0])) + 1
                if size + item_size > MAX_BATCH_BYTES - 1000 and total:
                    break
                batch.setdefault(kind, []).append(queue.popleft())
                size += item_size
                taken += 1
                total += 1
        batches.append(batch)
    return batches


def dumps(payload: Any) -> str:
    return json.dumps(payload, allow_nan=False, separators=(",", ":"))
