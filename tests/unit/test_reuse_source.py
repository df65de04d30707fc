"""Which finished run a build may reuse (ci_track/tracking/reuse.py `pick_source`, `may_serve`): pure."""

from __future__ import annotations

from ci_track.ci.context import CIContext
from ci_track.tracking.reuse import lookup_filter, may_serve, pick_source
from ci_track.tracking.runs import Run

FP = "ab" * 32
PUSH = CIContext(provider="github-actions", event="push", head_sha="c" * 40, branch="main", repository="acme/wine")
FORK_PR = CIContext(
    provider="github-actions",
    event="pull_request",
    head_sha="d" * 40,
    pr_number=7,
    is_fork=True,
    repository="acme/wine",
)


def _run(run_id: str, *, status: str = "FINISHED", **tags: str) -> Run:
    base = {
        "ci.fingerprint": FP,
        "ci.training": "trained",
        "ci.exit_code": "0",
        "ci.provider": "github-actions",
        "ci.repository": "acme/wine",
        "mlflow.source.git.commit": "e" * 40,
    }
    return Run(run_id=run_id, experiment_id="1", status=status, tags={**base, **tags})


def test_the_newest_complete_training_serves() -> None:
    source = pick_source([_run("new"), _run("old")], FP, PUSH)
    assert source is not None and source.trainer.run_id == "new"


def test_reused_failed_killed_incomplete_and_other_fingerprints_never_serve() -> None:
    refused = [
        _run("reused", **{"ci.reused_from": "x"}),
        _run("copy", **{"ci.training": "reused"}),
        _run("failed", status="FAILED", **{"ci.exit_code": "1"}),
        _run("killed", status="KILLED", **{"ci.exit_code": "143"}),
        _run("other", **{"ci.fingerprint": "cd" * 32}),
        Run(
            run_id="incomplete",
            experiment_id="1",
            status="FINISHED",
            tags={"ci.fingerprint": FP, "ci.training": "trained"},
        ),
    ]
    assert pick_source(refused, FP, PUSH) is None
    assert pick_source([*refused, _run("good")], FP, PUSH).trainer.run_id == "good"  # type: ignore[union-attr]


def test_a_fork_run_serves_only_later_builds_of_its_own_pull_request() -> None:
    fork_run = _run("fork", **{"ci.fork": "true", "ci.pr_number": "7"})
    assert not may_serve(fork_run, PUSH)
    assert may_serve(fork_run, FORK_PR)
    other_pr = CIContext(**{**FORK_PR.__dict__, "pr_number": 8})
    assert not may_serve(fork_run, other_pr)
    assert may_serve(_run("trusted"), FORK_PR)  # a fork may take trusted numbers


def test_a_local_run_never_serves_a_ci_build() -> None:
    local = _run("laptop", **{"ci.provider": "local"})
    assert not may_serve(local, PUSH)
    assert may_serve(local, CIContext(provider="local", event="manual", head_sha=None))


def test_a_repeat_group_serves_whole_or_not_at_all() -> None:
    def attempt(run_id: str, n: int, group: str, runs: int) -> Run:
        tags = {"ci.repeat_group": group, "ci.attempt": str(n), "ci.seed": str(n), "ci.repeats": f"{runs} runs: x"}
        return _run(run_id, **tags)

    broken = [attempt("b2", 2, "g-broken", 3), attempt("b1", 1, "g-broken", 3)]  # attempt 3 failed
    whole = [attempt("w2", 2, "g-whole", 2), attempt("w1", 1, "g-whole", 2)]
    source = pick_source([*broken, *whole], FP, PUSH)
    assert source is not None and [run.run_id for run in source.runs] == ["w1", "w2"]
    assert {seed: run.run_id for seed, run in source.by_seed().items()} == {1: "w1", 2: "w2"}
    odd = _run("odd", **{"ci.repeat_group": "g", "ci.attempt": "x", "ci.seed": "-1", "ci.repeats": "1 run: x"})
    assert pick_source([odd], FP, PUSH).by_seed() == {1: odd}  # type: ignore[union-attr]


def test_the_lookup_filter_is_one_server_side_query() -> None:
    text = lookup_filter(FP)
    assert f"tags.`ci.fingerprint` = '{FP}'" in text and "tags.`ci.training` = 'trained'" in text
    assert "attributes.status = 'FINISHED'" in text and "tags.`ci.exit_code` = '0'" in text
