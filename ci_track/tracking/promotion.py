"""Making a run the champion (`promote`) and undoing it (`rollback`), one champion per branch.

A run is promoted to the champion of its own branch (`mlflow.source.git.branch`); promoting on one
branch never moves another branch's champion. With a registered model (`champion.model`), the
champion is the model version behind the branch's alias (`champion.branch_alias`: the plain alias
on the default branch, `<alias>-<slug>-<hash>` elsewhere): promote registers a version from the
run's logged model (an MLflow 3 LoggedModel; on a 2.x server, which has none, `runs:/<id>/<path>`
with the path the 2.x client recorded, else `model`) unless the run already has one, and moves
that alias; a run whose training was reused (`ci.reused_from`) registers the model of the run that
trained it. Without one, the champion is the branch's run tagged `ci.champion=true`. Either way
the new champion run records `ci.promoted_at`, `ci.previous_champion` (run id) and, with a
registry, `ci.previous_champion_version`, which is what `rollback` restores.
"""

from __future__ import annotations

import dataclasses
import datetime
import json

from ci_track.errors import NotFoundError, UsageError
from ci_track.tracking.champion import (
    CHAMPION_TAG,
    is_complete,
    quote_filter_value,
    resolve_branch_alias,
    why_not_complete,
)
from ci_track.tracking.client import MlflowClient
from ci_track.tracking.reuse import REUSED_FROM_TAG
from ci_track.tracking.runs import ModelVersion, Run

LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"


@dataclasses.dataclass(frozen=True, kw_only=True)
class PromotionResult:
    run_id: str
    previous_run_id: str | None
    model: str | None = None
    version: str | None = None
    previous_version: str | None = None
    alias: str | None = None  # the registry alias that moved (per branch)
    already_champion: bool = False


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def current_tagged_champion(client: MlflowClient, experiment_id: str, branch: str) -> Run | None:
    runs, _ = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`{CHAMPION_TAG}` = 'true' and tags.`mlflow.source.git.branch` = {quote_filter_value(branch)}"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def _promotable_branch(run: Run) -> str:
    """The branch whose champion `run` may become; refuses runs that are not a branch's own complete runs."""
    if not is_complete(run):
        raise UsageError(f"run {run.run_id} cannot be promoted: {why_not_complete(run)}")
    if run.tags.get("ci.pr_number"):
        raise UsageError(
            f"run {run.run_id} was made for pull request #{run.tags['ci.pr_number']}: promote the run of the "
            "branch build after the merge"
        )
    if not run.branch:
        raise UsageError(f"run {run.run_id} has no mlflow.source.git.branch tag: cannot tell whose champion it is")
    return run.branch


def promote(
    client: MlflowClient,
    run: Run,
    *,
    experiment_id: str,
    model: str | None,
    alias: str,
    default_branch: str | None = None,
) -> PromotionResult:
    branch = _promotable_branch(run)
    if model:
        name = resolve_branch_alias(client, model, alias, branch, default_branch)
        return _promote_in_registry(client, run, model=model, alias=name)
    previous = current_tagged_champion(client, experiment_id, branch)
    if previous is not None and previous.run_id == run.run_id:
        return PromotionResult(run_id=run.run_id, previous_run_id=None, already_champion=True)
    client.log_batch(
        run.run_id,
        tags={
            CHAMPION_TAG: "true",
            "ci.promoted_at": _now_iso(),
            "ci.previous_champion": previous.run_id if previous else "",
        },
    )
    if previous is not None:
        client.delete_tag(previous.run_id, CHAMPION_TAG)  # after the new tag: never a moment without a champion
    return PromotionResult(run_id=run.run_id, previous_run_id=previous.run_id if previous else None)


def _promote_in_registry(client: MlflowClient, run: Run, *, model: str, alias: str) -> PromotionResult:
    previous = client.get_model_version_by_alias(model, alias)
    if previous is not None and previous.run_id == run.run_id:
        return PromotionResult(
            run_id=run.run_id,
            previous_run_id=None,
            model=model,
            version=previous.version,
            alias=alias,
            already_champion=True,
        )
    client.ensure_registered_model(model)
    version = _version_for_run(client, run, model)
    client.set_alias(model, alias, version.version)
    client.log_batch(
        run.run_id,
        tags={
            "ci.promoted_at": _now_iso(),
            "ci.champion_model": model,
            "ci.champion_version": version.version,
            "ci.champion_alias": alias,
            "ci.previous_champion": (previous.run_id or "") if previous else "",
            "ci.previous_champion_version": previous.version if previous else "",
        },
    )
    return PromotionResult(
        run_id=run.run_id,
        previous_run_id=previous.run_id if previous else None,
        model=model,
        version=version.version,
        previous_version=previous.version if previous else None,
        alias=alias,
    )


def _version_for_run(client: MlflowClient, run: Run, model: str) -> ModelVersion:
    existing = client.search_model_versions(
        f"name = {quote_filter_value(model)} and run_id = {quote_filter_value(run.run_id)}", max_results=1
    )
    if existing:
        return existing[0]
    # A reused run (training skipped, ci_track/tracking/reuse.py) has no model of its own: the version is the
    # model of the run that trained it, registered for this run, whose branch the alias belongs to.
    trainer = _trainer(client, run)
    if trainer.logged_model_ids:  # only MLflow 3 servers return LoggedModels (run.outputs)
        model_id = trainer.logged_model_ids[-1]
        return client.create_model_version(model, source=f"models:/{model_id}", run_id=run.run_id, model_id=model_id)
    # The server accepts a runs:/ source only from the run it names: a reused run's version records its trainer.
    return client.create_model_version(
        model, source=f"runs:/{trainer.run_id}/{_model_artifact_path(trainer)}", run_id=trainer.run_id
    )


def _trainer(client: MlflowClient, run: Run) -> Run:
    """The run whose training produced `run`'s model: itself, or the run its training was reused from."""
    source_id = run.tags.get(REUSED_FROM_TAG)
    if not source_id:
        return run
    try:
        return client.get_run(source_id)
    except NotFoundError:
        raise UsageError(
            f"run {run.run_id} reused the training of run {source_id}, which no longer exists: its model is gone"
        ) from None


def _model_artifact_path(run: Run) -> str:
    """Where the run's newest model sits among its artifacts: what an MLflow 2 client recorded, else `model`.

    MLflow 2 clients record every `log_model` in the run tag `mlflow.log-model.history` (a JSON
    list with each model's `artifact_path`); the registry of a 2.x server has no LoggedModels.
    """
    try:
        history = json.loads(run.tags.get(LOG_MODEL_HISTORY_TAG) or "[]")
    except ValueError:
        return "model"
    paths = (
        [entry.get("artifact_path") for entry in history if isinstance(entry, dict)]
        if isinstance(history, list)
        else []
    )
    path = next((p for p in reversed(paths) if isinstance(p, str) and p.strip("/")), None)
    return path.strip("/") if path else "model"


def rollback(
    client: MlflowClient,
    *,
    experiment_id: str,
    model: str | None,
    alias: str,
    branch: str,
    default_branch: str | None = None,
) -> PromotionResult:
    """Point `branch`'s champion back at the one the current champion replaced."""
    if model:
        name = resolve_branch_alias(client, model, alias, branch, default_branch)
        current = client.get_model_version_by_alias(model, name)
        if current is None or not current.run_id:
            raise UsageError(f"model {model!r} has no alias @{name} (champion of {branch}): nothing to roll back")
        run = client.get_run(current.run_id)
        previous_version = run.tags.get("ci.previous_champion_version")
        if not previous_version:
            raise UsageError(f"run {run.run_id} (version {current.version}) records no previous champion")
        client.set_alias(model, name, previous_version)
        client.set_tag(run.run_id, "ci.rolled_back_at", _now_iso())
        return PromotionResult(
            run_id=run.tags.get("ci.previous_champion") or "",
            previous_run_id=run.run_id,
            model=model,
            version=previous_version,
            previous_version=current.version,
            alias=name,
        )
    current_run = current_tagged_champion(client, experiment_id, branch)
    if current_run is None:
        raise UsageError(
            f"no run on {branch} is tagged {CHAMPION_TAG}=true in experiment {experiment_id}: nothing to roll back"
        )
    previous_id = current_run.tags.get("ci.previous_champion")
    if not previous_id:
        raise UsageError(f"champion run {current_run.run_id} records no previous champion")
    client.set_tag(previous_id, CHAMPION_TAG, "true")
    client.delete_tag(current_run.run_id, CHAMPION_TAG)
    client.set_tag(current_run.run_id, "ci.rolled_back_at", _now_iso())
    return PromotionResult(run_id=previous_id, previous_run_id=current_run.run_id)
