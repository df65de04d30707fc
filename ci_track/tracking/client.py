"""MLflow's REST endpoints ci-track uses: the only module that asks the tracking server anything.

`MlflowClient` adds the endpoints to `MlflowRest` (tracking/rest.py: the session, authentication,
retries and error translation); its settings come from the environment in ci_track/settings.py
(the MLflow client's own variables, and for `databricks[://PROFILE]` the DATABRICKS_* ones and
~/.databrickscfg, resolved in databricks_auth.py). It handles the API's traps (see
shared/notes/mlflow.md): NaN/Infinity sent as strings, empty lists missing from responses,
`start_time` always sent, log-batch chunked to the server's limits (tracking/batches.py). What the
server's version accepts (MLflow 2.9 to 3.x) is known from one lazy probe (`capabilities`, see
tracking/capabilities.py), and requests a server would refuse get their equivalent instead.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ci_track.errors import NotFoundError, TrackingError, UsageError
from ci_track.gate.aggregates import HistoryPoint
from ci_track.report.text import cut
from ci_track.tracking.batches import MAX_TAG_VALUE, now_ms, plan_log_batches
from ci_track.tracking.rest import MlflowRest
from ci_track.tracking.runs import Experiment, ModelVersion, Run, metric_value

FINISHED_STATUSES = ("FINISHED", "FAILED", "KILLED")
CURVE_SAMPLE = 500  # points per run a training curve reads (get-history-bulk-interval allows 2,500)
HISTORY_PAGE = 25_000  # metrics/get-history's largest max_results
MAX_HISTORY_PAGES = 40  # a million values of one metric: past that, aggregating is not a gate's job
CREATE_ID_TAG = "ci.create_id"  # makes runs/create safe to retry (see MlflowClient.create_run)

# search_runs_lacking: a first page a little larger than asked for (enough on any server when few runs
# carry the tag); then, on servers without `IS NULL` (before 3.11), bigger pages, at most
# LACKING_MAX_REQUESTS requests (2 + 8 + 4 x 250 = 1,010 runs read when 2 are asked for). Past that it
# fails closed rather than answer differently from a newer server.
LACKING_SLACK = 8
LACKING_PAGE = 250
LACKING_MAX_REQUESTS = 5


class MlflowClient(MlflowRest):
    """A small, typed client for the MLflow endpoints ci-track uses."""

    def __enter__(self) -> MlflowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- links -------------------------------------------------------------------------

    def run_url(self, experiment_id: str, run_id: str) -> str:
        if self.settings.ui_base:
            return f"{self.settings.ui_base}/experiments/{experiment_id}/runs/{run_id}"
        return f"{self.settings.uri}/#/experiments/{experiment_id}/runs/{run_id}"

    def artifacts_url(self, experiment_id: str, run_id: str) -> str:
        """The run's artifacts tab in the MLflow UI."""
        return f"{self.run_url(experiment_id, run_id)}/artifacts"

    def compare_url(self, experiment_ids: Sequence[str], run_ids: Sequence[str]) -> str:
        """MLflow's own compare view of `run_ids`, as the UI builds it (its `getCompareRunPageRoute`:
        JSON lists of the sorted ids in `runs` and `experiments`)."""
        query = urllib.parse.urlencode(
            {
                "runs": json.dumps(sorted(run_ids), separators=(",", ":")),
                "experiments": json.dumps(sorted(set(experiment_ids)), separators=(",", ":")),
            }
        )
        if self.settings.ui_base:
            return f"{self.settings.ui_base}/compare-runs?{query}"
        return f"{self.settings.uri}/#/compare-runs?{query}"

    # ---- experiments -------------------------------------------------------------------

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            body = self._call("GET", "experiments/get-by-name", params={"experiment_name": name})
        except NotFoundError:
            return None
        return _experiment(body["experiment"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        body = self._call("GET", "experiments/get", params={"experiment_id": experiment_id})
        return _experiment(body["experiment"])

    def get_or_create_experiment(self, name: str) -> Experiment:
        found = self.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                raise UsageError(f"experiment {name!r} is deleted: restore it in MLflow or choose another name")
            return found
        try:
            body = self._call("POST", "experiments/create", json={"name": name})
            return Experiment(experiment_id=str(body["experiment_id"]), name=name)
        except TrackingError as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":  # another CI job created it meanwhile
                raise
        found = self.get_experiment_by_name(name)
        if found is None:
            raise TrackingError(f"experiment {name!r} exists but cannot be read", url=self.uri)
        return found

    # ---- runs --------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        *,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        start_time: int | None = None,
    ) -> Run:
        """Create a run, exactly once even when an answer is lost and the request is retried.

        runs/create is not idempotent, so the run carries a random `ci.create_id` tag; before a
        retry the client looks for a run with that tag and takes it instead of creating a twin.
        """
        create_id = uuid.uuid4().hex
        payload: dict[str, Any] = {
            "experiment_id": experiment_id,
            "start_time": start_time if start_time is not None else now_ms(),  # omitted -> 0 is stored
            "tags": [
                {"key": k, "value": cut(v, MAX_TAG_VALUE)}
                for k, v in {**(tags or {}), CREATE_ID_TAG: create_id}.items()
            ],
        }
        if run_name:
            payload["run_name"] = run_name

        def already_created() -> dict[str, Any] | None:
            found = self._call(
                "POST",
                "runs/search",
                json={
                    "experiment_ids": [experiment_id],
                    "filter": f"tags.`{CREATE_ID_TAG}` = '{create_id}'",
                    "run_view_type": "ALL",
                    "max_results": 1,
                },
            )
            runs = found.get("runs", [])
            return {"run": runs[0]} if runs else None

        body = self._call("POST", "runs/create", json=payload, before_retry=already_created)
        return Run.from_json(body["run"])

    def update_run(self, run_id: str, status: str, *, end_time: int | None = None) -> None:
        if status not in ("RUNNING", "SCHEDULED", *FINISHED_STATUSES):
            raise ValueError(f"unknown run status {status!r}")  # the server would silently ignore it
        payload: dict[str, Any] = {"run_id": run_id, "status": status}
        if status in FINISHED_STATUSES:
            payload["end_time"] = end_time if end_time is not None else now_ms()
        self._call("POST", "runs/update", json=payload)

    def get_run(self, run_id: str) -> Run:
        body = self._call("GET", "runs/get", params={"run_id": run_id})
        return Run.from_json(body["run"])

    def get_metric_history(self, run_id: str, key: str) -> list[HistoryPoint]:
        """Every value `run_id` logged for `key`, exactly: pages of 25,000 (the server's maximum).

        Not metrics/get-history-bulk-interval: that endpoint *samples* a long history down to
        max_results points (MLflow 3.17's SQL store keeps one row per NTILE bucket), and a sample
        would give a wrong min, max or mean. One request per 25,000 values, at most
        MAX_HISTORY_PAGES of them.
        """
        points: list[HistoryPoint] = []
        token: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_HISTORY_PAGES):
            params = {"run_id": run_id, "metric_key": key, "max_results": HISTORY_PAGE}
            if token:
                params["page_token"] = token
            body = self._call("GET", "metrics/get-history", params=params)
            points.extend(
                HistoryPoint(
                    step=int(m.get("step", 0) or 0),
                    timestamp=int(m.get("timestamp", 0) or 0),
                    value=metric_value(m.get("value")),
                )
                for m in body.get("metrics", [])
            )
            token = body.get("next_page_token") or None
            if token is None or token in seen:  # a token seen before would page forever
                return points
            seen.add(token)
        raise UsageError(
            f"metric {key!r} of run {run_id} has more than {MAX_HISTORY_PAGES * HISTORY_PAGE:,} logged values: "
            "too many to aggregate; use `aggregate: last` for it"
        )

    def get_metric_histories(
        self, run_ids: Sequence[str], key: str, *, max_results: int = CURVE_SAMPLE
    ) -> dict[str, list[tuple[int, float]]]:
        """(step, value) of `key` for each of `run_ids` (at most 100), in ONE request:
        metrics/get-history-bulk-interval, which samples each run's history down to `max_results`
        points. Fine for a chart, never for a gate (get_metric_history is exact)."""
        body = self._call(
            "GET",
            "metrics/get-history-bulk-interval",
            params={"run_ids": list(run_ids)[:100], "metric_key": key, "max_results": max_results},
        )
        found: dict[str, list[tuple[int, float]]] = {run_id: [] for run_id in run_ids}
        for point in body.get("metrics", []):
            found.setdefault(str(point.get("run_id", "")), []).append(
                (int(point.get("step", 0) or 0), metric_value(point.get("value")))
            )
        return found

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        *,
        filter_string: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 100,
        page_token: str | None = None,
    ) -> tuple[list[Run], str | None]:
        """One page of runs; the server filters and orders, so callers ask for few results."""
        payload: dict[str, Any] = {
            "experiment_ids": list(experiment_ids),
            "filter": filter_string,
            "run_view_type": "ACTIVE_ONLY",
            "max_results": max_results,
            "order_by": list(order_by),
        }
        if page_token:
            payload["page_token"] = page_token
        body = self._call("POST", "runs/search", json=payload)
        return [Run.from_json(r) for r in body.get("runs", [])], body.get("next_page_token") or None

    def search_runs_lacking(
        self,
        experiment_ids: Sequence[str],
        *,
        tag: str,
        filter_string: str,
        order_by: Sequence[str],
        max_results: int,
    ) -> list[Run]:
        """The first `max_results` runs that match `filter_string` and do not carry `tag`, in `order_by` order.

        Where the server is known to filter `tags.<tag> IS NULL` (Databricks, or a 3.11+ server
        already probed), one request with that clause. Otherwise first one page of the rest of the
        filter, a little larger than asked for, the tagged runs dropped here: on every server
        generation that is usually the whole answer, in one request and without asking the
        version. Only when that page holds too few untagged runs does the version matter: a 3.11+
        server filters `tags.<tag> IS NULL` itself (one more request); older ones are paged
        further, at most LACKING_MAX_REQUESTS requests in all, and past that it raises
        TrackingError (the gate fails closed) rather than answer "none" where a newer server might
        have found one. Same runs, same order, on every server.
        """
        lacking = f"tags.`{tag}` IS NULL"
        server_side = f"{filter_string} and {lacking}" if filter_string else lacking
        if self._capabilities is not None and self._capabilities.tag_is_null:  # known for free (Databricks, probed)
            runs, _ = self.search_runs(
                experiment_ids, filter_string=server_side, order_by=order_by, max_results=max_results
            )
            return runs
        runs, token = self.search_runs(
            experiment_ids, filter_string=filter_string, order_by=order_by, max_results=max_results + LACKING_SLACK
        )
        found = [run for run in runs if tag not in run.tags]
        if len(found) >= max_results or token is None:
            return found[:max_results]
        if self.capabilities.tag_is_null:
            runs, _ = self.search_runs(
                experiment_ids, filter_string=server_side, order_by=order_by, max_results=max_results
            )
            return runs
        seen = {run.run_id for run in found}
        for _ in range(LACKING_MAX_REQUESTS - 1):
            runs, token = self.search_runs(
                experiment_ids,
                filter_string=filter_string,
                order_by=order_by,
                max_results=LACKING_PAGE,
                page_token=token,
            )
            for run in runs:
                if tag not in run.tags and run.run_id not in seen:  # seen: a run started between two pages
                    seen.add(run.run_id)
                    found.append(run)
            if len(found) >= max_results or token is None:
                return found[:max_results]
        raise TrackingError(
            f"cannot search {self.capabilities.description} for runs without the tag {tag!r}: the first "
            f"{LACKING_MAX_REQUESTS} pages of runs all carry it (tags IS NULL in a search needs MLflow 3.11 or newer)",
            url=self.uri,
        )

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self._call("POST", "runs/set-tag", json={"run_id": run_id, "key": key, "value": cut(value, MAX_TAG_VALUE)})

    def delete_tag(self, run_id: str, key: str) -> None:
        self._call("POST", "runs/delete-tag", json={"run_id": run_id, "key": key})

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Iterable[Mapping[str, Any]] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> int:
        """Log everything, split into requests the server accepts. Returns the number of requests.

        `metrics` are mappings with key, value (float), step and timestamp (ms); a missing
        timestamp becomes now.
        """
        batches = plan_log_batches(run_id, metrics=metrics, params=params or {}, tags=tags or {})
        for batch in batches:
            self.send_log_batch(batch)
        return len(batches)

    def send_log_batch(self, batch: Mapping[str, Any]) -> None:
        """Send one request body made by `plan_log_batches` (used to resend spooled results as they were)."""
        self._call("POST", "runs/log-batch", json=batch)

    # ---- model registry ----------------------------------------------------------------

    def get_model_version_by_alias(self, model: str, alias: str) -> ModelVersion | None:
        """The version the alias points at; None when the model or alias does not exist."""
        try:
            body = self._call("GET", "registered-models/alias", params={"name": model, "alias": alias})
        except TrackingError as error:
            # A missing alias is a 400 INVALID_PARAMETER_VALUE, a missing model a 404.
            if error.error_code in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"):
                return None
            raise
        return ModelVersion.from_json(body["model_version"])

    def set_alias(self, model: str, alias: str, version: str) -> None:
        self._call("POST", "registered-models/alias", json={"name": model, "alias": alias, "version": version})

    def delete_alias(self, model: str, alias: str) -> None:
        self._call("DELETE", "registered-models/alias", json={"name": model, "alias": alias})

    def ensure_registered_model(self, model: str) -> None:
        try:
            self._call("POST", "registered-models/create", json={"name": model})
        except TrackingError as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise

    def create_model_version(
        self, model: str, *, source: str, run_id: str, model_id: str | None = None
    ) -> ModelVersion:
        payload = {"name": model, "source": source, "run_id": run_id}
        if model_id:
            payload["model_id"] = model_id  # MLflow 3: required when source is models:/<model_id>
        body = self._call("POST", "model-versions/create", json=payload)
        return ModelVersion.from_json(body["model_version"])

    def search_model_versions(self, filter_string: str, *, max_results: int = 100) -> list[ModelVersion]:
        body = self._call("GET", "model-versions/search", params={"filter": filter_string, "max_results": max_results})
        return [ModelVersion.from_json(mv) for mv in body.get("model_versions", [])]


def _experiment(raw: Mapping[str, Any]) -> Experiment:
    return Experiment(
        experiment_id=str(raw["experiment_id"]),
        name=raw.get("name", ""),
        lifecycle_stage=raw.get("lifecycle_stage", "active"),
    )
