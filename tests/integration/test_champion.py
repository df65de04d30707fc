"""Champion strategies, fallback order, promote and rollback against a real MLflow server."""

from __future__ import annotations

import pytest

from ci_track.errors import UsageError
from ci_track.tracking.candidate import find_candidate
from ci_track.tracking.champion import find_champion, quote_filter_value
from ci_track.tracking.client import MlflowClient
from ci_track.tracking.promotion import promote, rollback
from ci_track.tracking.runs import Run


def make_run(
    client: MlflowClient,
    experiment_id: str,
    *,
    branch: str,
    sha: str,
    rmse: float | None = None,
    status: str = "FINISHED",
    pr: int | None = None,
    base_sha: str | None = None,
    start_time: int | None = None,
) -> Run:
    tags = {"mlflow.source.git.branch": branch, "mlflow.source.git.commit": sha}
    if status != "RUNNING":
        tags["ci.exit_code"] = "0" if status == "FINISHED" else "1"  # ci-track's completion mark
    if pr is not None:
        tags["ci.pr_number"] = str(pr)
    if base_sha:
        tags["ci.base_sha"] = base_sha
    run = client.create_run(experiment_id, tags=tags, start_time=start_time)
    if rmse is not None:
        client.log_batch(run.run_id, metrics=[{"key": "rmse", "value": rmse}])
    if status != "RUNNING":
        client.update_run(run.run_id, status)
    return client.get_run(run.run_id)


@pytest.fixture
def experiment_id(client: MlflowClient, experiment_name: str) -> str:
    return client.get_or_create_experiment(experiment_name).experiment_id


def _champion(client: MlflowClient, experiment_id: str, candidate: Run, strategies: tuple[str, ...], **kw: str):
    return find_champion(
        client,
        experiment_id,
        candidate=candidate,
        strategies=strategies,
        base_branch="main",
        metric="rmse",
        metric_goal="minimize",
        **kw,
    )


def test_best_is_the_lowest_finished_rmse_on_the_base_branch_only(client: MlflowClient, experiment_id: str) -> None:
    good = make_run(client, experiment_id, branch="main", sha="a" * 40, rmse=0.5)
    make_run(client, experiment_id, branch="main", sha="b" * 40, rmse=0.7)
    make_run(client, experiment_id, branch="main", sha="c" * 40, rmse=0.1, status="FAILED")
    make_run(client, experiment_id, branch="main", sha="d" * 40, rmse=0.2, status="RUNNING")
    make_run(client, experiment_id, branch="feature", sha="e" * 40, rmse=0.05)
    make_run(client, experiment_id, branch="main", sha="f" * 40, rmse=0.01, pr=7)  # a fork's branch named main
    candidate = make_run(client, experiment_id, branch="feature", sha="1" * 40, rmse=0.6, pr=8)
    choice = _champion(client, experiment_id, candidate, ("best",))
    assert choice is not None and choice.run.run_id == good.run_id
    assert choice.strategy == "best" and "best rmse" in choice.description


def test_best_maximizes_when_the_goal_says_so(client: MlflowClient, experiment_id: str) -> None:
    make_run(client, experiment_id, branch="main", sha="a" * 40, rmse=0.5)
    high = make_run(client, experiment_id, branch="main", sha="b" * 40, rmse=0.9)
    candidate = make_run(client, experiment_id, branch="x", sha="1" * 40, rmse=0.6, pr=1)
    choice = find_champion(
        client,
        experiment_id,
        candidate=candidate,
        strategies=("best",),
        base_branch="main",
        metric="rmse",
        metric_goal="maximize",
    )
    assert choice is not None and choice.run.run_id == high.run_id


def test_the_candidate_itself_never_counts_as_champion(client: MlflowClient, experiment_id: str) -> None:
    candidate = make_run(client, experiment_id, branch="main", sha="a" * 40, rmse=0.1)
    older = make_run(client, experiment_id, branch="main", sha="b" * 40, rmse=0.3)
    for strategy in ("best", "latest"):
        choice = _champion(client, experiment_id, candidate, (strategy,))
        assert choice is not None and choice.run.run_id == older.run_id, strategy


def test_best_finds_nothing_when_no_base_run_has_the_metric(client: MlflowClient, experiment_id: str) -> None:
    make_run(client, experiment_id, branch="main", sha="a" * 40)
    candidate = make_run(client, experiment_id, branch="x", sha="1" * 40, rmse=0.6, pr=1)
    assert _champion(client, experiment_id, candidate, ("best",)) is None


def test_latest_prefers_the_run_at_the_merge_base(client: MlflowClient, experiment_id: str) -> None:
    at_base = make_run(client, experiment_id, branch="main", sha="a" * 40, rmse=0.5, start_time=1_700_000_000_000)
    make_run(client, experiment_id, branch="main", sha="b" * 40, rmse=0.4, start_time=1_700_000_100_000)
    candidate = make_run(client, experiment_id, branch="x", sha="1" * 40, rmse=0.6, pr=1, base_sha="a" * 40)
    choice = _champion(client, experiment_id, candidate, ("latest",))
    assert choice is not None and choice.run.run_id == at_base.run_id
    assert "merge-base" in choice.description


def test_latest_falls_back_to_the_newest_finished_base_run(client: MlflowClient, experiment_id: str) -> None:
    make_run(client, experiment_id, branch="main", sha="a" * 40, rmse=0.5, start_time=1_700_000_000_000)
    newest = make_run(client, experiment_id, branch="main", sha="b" * 40, rmse=0.9, start_time=1_700_000_100_000)
    candidate = make_run(client, experiment_id, branch="x", sha="1" * 40, pr=1, base_sha="9" * 40)
    choice = _champion(client, experiment_id, candidate, ("latest",))
    assert choice is not None and choice.run.run_id == newest.run_id


def test_strategies_are_tried_in_order(client: MlflowClient, experiment_id: str, experiment_name: str) -> None:
    best = make_run(client, experiment_id, branch="main", sha="a" * 40, rmse=0.1, start_time=1_700_000_000_000)
    latest = make_run(client, experiment_id, branch="main", sha="b" * 40, rmse=0.9, start_time=1_700_000_100_000)
    candidate = make_run(client, experiment_id, branch="x", sha="1" * 40, rmse=0.5, pr=1)
    model = f"model-{experiment_name}"
    # no alias yet: alias answers nothing, best answers
    choice = _champion(client, experiment_id, candidate, ("alias", "best", "latest"), model=model)
    assert choice is not None and (choice.strategy, choice.run.run_id) == ("best", best.run_id)
    choice = _champion(client, experiment_id, candidate, ("latest", "best"))
    assert choice is not None and (choice.strategy, choice.run.run_id) == ("latest", latest.run_id)
    # once promoted, the alias answers first
    promote(client, latest, experiment_id=experiment_id, model=model, alias="champion")
    choice = _champion(client, experiment_id, candidate, ("alias", "best"), model=model)
    assert choice is not None and (choice.strategy, choice.run.run_id) == ("alias", latest.run_id)
    assert choice.model_version == "1"


def test_promote_then_rollback_in_the_registry(client: MlflowClient, experiment_id: str, experiment_name: str) -> None:
    model = f"model-{experiment_name}"
    first = make_run(client, experiment_id, branch="main", sha="a" * 40, rmse=0.5)
    second = make_run(client, experiment_id, branch="main", sha="b" * 40, rmse=0.4)
    assert promote(client, first, experiment_id=experiment_id, model=model, alias="champion").version == "1"
    result = promote(client, second, experiment_id=experiment_id, model=model, alias="champion")
    assert (result.version, result.previous_version, result.previous_run_id) == ("2", "1", first.run_id)
    assert promote(client, second, experiment_id=experiment_id, model=model, alias="champion").already_champion
    tags = client.get_run(second.run_id).tags
    assert tags["ci.previous_champion"] == first.run_id and tags["ci.previous_champion_version"] == "1"
    assert "ci.promoted_at" in tags

    restored = rollback(client, experiment_id=experiment_id, model=model, alias="champion", branch="main")
    assert restored.run_id == first.run_id
    version = client.get_model_version_by_alias(model, "champion")
    assert version is not None and (version.version, version.run_id) == ("1", first.run_id)
    assert "ci.rolled_back_at" in client.get_run(second.run_id).tags


def test_promote_then_rollback_with_the_champion_tag(client: MlflowClient, experiment_id: str) -> None:
    first = make_run(client, experiment_id, branch="main", sha="a" * 40, rmse=0.5)
    second = make_run(client, experiment_id, branch="main", sha="b" * 40, rmse=0.4)
    candidate = make_run(client, experiment_id, branch="x", sha="1" * 40, rmse=0.45, pr=3)
    promote(client, first, experiment_id=experiment_id, model=None, alias="champion")
    promote(client, second, experiment_id=experiment_id, model=None, alias="champion")
    choice = _champion(client, experiment_id, candidate, ("alias",))
    assert choice is not None and choice.run.run_id == second.run_id
    assert "ci.champion" not in client.get_run(first.run_id).tags  # exactly one champion at a time
    rollback(client, experiment_id=experiment_id, model=None, alias="champion", branch="main")
    choice = _champion(client, experiment_id, candidate, ("alias",))
    assert choice is not None and choice.run.run_id == first.run_id


def test_rollback_without_history_is_a_usage_error(client: MlflowClient, experiment_id: str) -> None:
    with pytest.raises(UsageError, match="nothing to roll back"):
        rollback(client, experiment_id=experiment_id, model=None, alias="champion", branch="main")


def test_candidate_is_the_newest_finished_run_of_the_head_commit(client: MlflowClient, experiment_id: str) -> None:
    make_run(client, experiment_id, branch="x", sha="1" * 40, start_time=1_700_000_000_000)
    newest = make_run(client, experiment_id, branch="x", sha="1" * 40, start_time=1_700_000_100_000)
    make_run(client, experiment_id, branch="x", sha="1" * 40, status="RUNNING")
    assert find_candidate(client, experiment_id, run_id=None, head_sha="1" * 40).run.run_id == newest.run_id
    with pytest.raises(UsageError, match="no complete FINISHED run of ci-track for commit 2222222"):
        find_candidate(client, experiment_id, run_id=None, head_sha="2" * 40)


def test_candidate_by_id_must_exist_be_finished_and_in_the_experiment(
    client: MlflowClient, experiment_id: str, experiment_name: str
) -> None:
    running = make_run(client, experiment_id, branch="x", sha="1" * 40, status="RUNNING")
    with pytest.raises(UsageError, match="still RUNNING"):
        find_candidate(client, experiment_id, run_id=running.run_id, head_sha=None)
    with pytest.raises(UsageError, match="does not exist"):
        find_candidate(client, experiment_id, run_id="0" * 32, head_sha=None)
    other = client.get_or_create_experiment(experiment_name + "-other").experiment_id
    elsewhere = make_run(client, other, branch="x", sha="1" * 40)
    with pytest.raises(UsageError, match="belongs to experiment"):
        find_candidate(client, experiment_id, run_id=elsewhere.run_id, head_sha=None)


def test_hostile_branch_names_are_quoted_for_the_search_filter(client: MlflowClient, experiment_id: str) -> None:
    branch = "it's-a-branch"
    champion = make_run(client, experiment_id, branch=branch, sha="a" * 40, rmse=0.3)
    candidate = make_run(client, experiment_id, branch="x", sha="1" * 40, pr=1)
    choice = find_champion(client, experiment_id, candidate=candidate, strategies=("latest",), base_branch=branch)
    assert choice is not None and choice.run.run_id == champion.run_id
    assert quote_filter_value("plain") == "'plain'"
    with pytest.raises(UsageError, match="both quote characters"):
        quote_filter_value("a'b\"c")
