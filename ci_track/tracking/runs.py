"""Plain data read from MLflow: runs, experiments and model versions (no I/O here)."""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True, kw_only=True)
class Run:
    run_id: str
    experiment_id: str
    status: str  # RUNNING | SCHEDULED | FINISHED | FAILED | KILLED
    start_time: int | None = None  # ms since the epoch
    end_time: int | None = None
    run_name: str | None = None
    metrics: Mapping[str, float] = dataclasses.field(default_factory=dict)  # latest value per key
    params: Mapping[str, str] = dataclasses.field(default_factory=dict)
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    logged_model_ids: tuple[str, ...] = ()  # MLflow 3 LoggedModels this run produced (run.outputs)
    artifact_uri: str | None = None  # where the run's artifacts are stored

    @property
    def head_sha(self) -> str | None:
        return self.tags.get("mlflow.source.git.commit")

    @property
    def branch(self) -> str | None:
        return self.tags.get("mlflow.source.git.branch")

    @classmethod
    def from_json(cls, run: Mapping[str, Any]) -> Run:
        """Build from MLflow's `{info, data}`; lists MLflow leaves out when empty count as empty."""
        info = run.get("info", {})
        data = run.get("data", {})
        return cls(
            run_id=info["run_id"],
            experiment_id=str(info.get("experiment_id", "")),
            status=info.get("status", "RUNNING"),
            start_time=_int_or_none(info.get("start_time")),
            end_time=_int_or_none(info.get("end_time")),
            run_name=info.get("run_name"),
            metrics={m["key"]: metric_value(m.get("value")) for m in data.get("metrics", [])},
            params={p["key"]: p.get("value", "") for p in data.get("params", [])},
            tags={t["key"]: t.get("value", "") for t in data.get("tags", [])},
            artifact_uri=info.get("artifact_uri") or None,
            logged_model_ids=tuple(
                o["model_id"] for o in run.get("outputs", {}).get("model_outputs", []) if o.get("model_id")
            ),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class RelatedRun:
    """A run of the same training that is not judged: a nested run or an extra run the script opened."""

    run_id: str
    run_name: str | None
    kind: str  # nested | extra
    status: str
    note: str  # in words, for the report


@dataclasses.dataclass(frozen=True, kw_only=True)
class Experiment:
    experiment_id: str
    name: str
    lifecycle_stage: str = "active"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelVersion:
    name: str
    version: str
    run_id: str | None
    source: str | None = None

    @classmethod
    def from_json(cls, mv: Mapping[str, Any]) -> ModelVersion:
        return cls(
            name=mv["name"],
            version=str(mv["version"]),
            run_id=mv.get("run_id") or None,
            source=mv.get("source"),
        )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def metric_value(value: Any) -> float:
    # The server writes NaN/Infinity as JSON tokens or strings depending on the store, and the
    # SQL stores clamp +-Infinity to +-1.7976931348623157e308: read those back as infinite again.
    if value is None:
        return math.nan
    number = float(value)
    if math.isfinite(number) and abs(number) >= sys.float_info.max:
        return math.copysign(math.inf, number)
    return number
