"""`ci-track compare` in a GitLab merge request pipeline and a Bitbucket pull-request pipeline, end to end.

The real CLI in subprocesses, with the environment each CI sets, against the session's MLflow server
and the contract-checked fakes of GitLab and Bitbucket: on an MR that already has 150 notes, two
compares leave one note (updated in place) and a commit status on the MR's head (never the merge
commit of a merged-results pipeline); ten compares racing leave one note; a Bitbucket PR likewise;
a fork's pipeline without a token still exits with the gate's code and posts nothing.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci_track.report.text import comment_marker
from tests.cli_helpers import ci_track
from tests.fakes import fake_gitlab
from tests.fakes.fake_bitbucket import FakeBitbucket, running_fake_bitbucket
from tests.fakes.fake_gitlab import FakeGitLab, running_fake_gitlab
from tests.forge_scenarios import BITBUCKET_REPO, GITLAB_PROJECT, bitbucket_pr_env, gitlab_mr_env
from tests.mlflow_server import MlflowServer
from tests.reliability_scenarios import make_run

PROJECT = GITLAB_PROJECT
REPO = BITBUCKET_REPO
HEAD = "c0ffee" + "1" * 34
RACERS = 10
BITBUCKET_RACERS = 6


@dataclasses.dataclass(frozen=True)
class Runs:
    experiment: str
    champion: str
    candidates: tuple[str, ...]  # each better than the champion by a different amount
    workdir: Path


@pytest.fixture(scope="module")
def runs(mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    experiment = f"forges-{uuid.uuid4().hex[:8]}"
    champion = make_run(mlflow_server.url, experiment, branch="main", sha="b" * 40, metrics={"accuracy": 0.80})
    candidates = tuple(
        make_run(mlflow_server.url, experiment, branch="feature", sha=HEAD, metrics={"accuracy": 0.81 + n / 1000})
        for n in range(RACERS)
    )
    workdir = tmp_path_factory.mktemp("forges")
    (workdir / ".ci-track.yml").write_text(f"experiment: {experiment}\nmetrics:\n  accuracy: {{goal: maximize}}\n")
    return Runs(experiment, champion, candidates, workdir)


def gitlab_env(fake: FakeGitLab, server: MlflowServer, **extra: str) -> dict[str, str]:
    return gitlab_mr_env(fake.url, tracking_uri=server.url, head_sha=HEAD, **extra)


def bitbucket_env(fake: FakeBitbucket, server: MlflowServer, **extra: str) -> dict[str, str]:
    return bitbucket_pr_env(fake.url, tracking_uri=server.url, head_sha=HEAD, **extra)


@pytest.fixture
def gitlab_fake() -> Iterator[FakeGitLab]:
    with running_fake_gitlab(project=PROJECT, notes=0, iid=None) as fake:
        fake.add_mr(PROJECT, 7, sha=HEAD, notes=150)
        yield fake
        fake.assert_no_violations()


def compare_args(runs: Runs, candidate: str, *more: str) -> list[str]:
    return ["compare", "--run-id", candidate, "--champion-run-id", runs.champion, *more]


def race(args: list[list[str]], env: dict[str, str], cwd: Path) -> list[tuple[int, str]]:
    """Start every compare at once; (exit code, log) of each."""
    processes = []
    for number, arguments in enumerate(args):
        log = (cwd / f"race-{number}.log").open("w")
        command = [sys.executable, "-m", "ci_track", *arguments]
        processes.append((subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT), log))
    results = []
    for number, (process, log) in enumerate(processes):
        code = process.wait(timeout=300)
        log.close()
        results.append((code, (cwd / f"race-{number}.log").read_text()))
    return results


def test_gitlab_mr_with_150_notes_gets_one_note_and_a_status_on_its_head(
    runs: Runs, mlflow_server: MlflowServer, gitlab_fake: FakeGitLab
) -> None:
    env = gitlab_env(gitlab_fake, mlflow_server)
    cwd = runs.workdir
    first = ci_track(*compare_args(runs, runs.candidates[0]), env=env, cwd=cwd)
    second = ci_track(
        *compare_args(runs, runs.candidates[1], "--junit-output", "junit.xml", "--gitlab-metrics-output", "m.txt"),
        env=env,
        cwd=cwd,
    )
    assert (first.code, second.code) == (0, 0), first.stderr + second.stderr
    notes = gitlab_fake.notes_on(PROJECT, 7)
    ours = [n for n in notes if comment_marker(runs.experiment) in n["body"]]
    assert len(ours) == 1 and len(notes) == 151  # the 150 notes that were there are untouched
    assert "0.811" in ours[0]["body"]  # the second report, edited in place
    assert [(s["sha"], s["name"], s["status"]) for s in gitlab_fake.statuses] == [
        (HEAD, f"ci-track/{runs.experiment}", "success")
    ] * 2
    assert {s["pipeline_id"] for s in gitlab_fake.statuses} == {None}  # the pipeline ran on the merge commit
    assert {s["ref"] for s in gitlab_fake.statuses} == {"feature"}  # the MR's source branch
    cases = ET.parse(cwd / "junit.xml").getroot().findall(".//testcase")  # noqa: S314 - our own file
    assert [c.get("name") for c in cases] == ["accuracy"]
    assert (cwd / "m.txt").read_text() == "accuracy 0.811\nci_track_regressions 0\n"
    for output in (first.stdout, first.stderr, second.stdout, second.stderr):
        assert fake_gitlab.DEFAULT_TOKEN not in output and fake_gitlab.JOB_TOKEN not in output


def test_ten_parallel_compares_on_gitlab_leave_one_note(
    runs: Runs, mlflow_server: MlflowServer, gitlab_fake: FakeGitLab
) -> None:
    # every compare scans, finds none, and creates: all ten creations are held until all have arrived
    gitlab_fake.rendezvous("postApiV4ProjectsIdMergeRequestsNoteableIdNotes", RACERS)
    env = gitlab_env(gitlab_fake, mlflow_server)
    results = race([compare_args(runs, c, "--no-status") for c in runs.candidates], env, runs.workdir)
    assert [code for code, _ in results] == [0] * RACERS, [log for code, log in results if code]
    ours = [n for n in gitlab_fake.notes_on(PROJECT, 7) if comment_marker(runs.experiment) in n["body"]]
    created = gitlab_fake.requests_for("postApiV4ProjectsIdMergeRequestsNoteableIdNotes")
    assert len(created) == RACERS  # the race did happen
    assert len(ours) == 1
    assert len(gitlab_fake.notes_on(PROJECT, 7)) == 151


def test_bitbucket_pr_gets_one_comment_from_racing_compares_and_a_build_status(
    runs: Runs, mlflow_server: MlflowServer
) -> None:
    with running_fake_bitbucket(repository=REPO, pr_id=None) as fake:
        fake.add_pull(REPO, 7, sha=HEAD, comments=120)
        env = bitbucket_env(fake, mlflow_server)
        first = ci_track(*compare_args(runs, runs.candidates[0]), env=env, cwd=runs.workdir)
        assert first.code == 0, first.stderr
        fake.rendezvous("listPullRequestComments", BITBUCKET_RACERS)  # every scan of page 1 and 2 at once
        racers = [compare_args(runs, c, "--comment", "new", "--no-status") for c in runs.candidates[:BITBUCKET_RACERS]]
        results = race(racers, env, runs.workdir)
        ours = [c for c in fake.comments_on(REPO, 7) if comment_marker(runs.experiment) in c["raw"]]
        statuses = list(fake.statuses.values())
        fake.assert_no_violations()
    assert [code for code, _ in results] == [0] * BITBUCKET_RACERS, [log for code, log in results if code]
    assert len(ours) == 1
    assert [(s["key"], s["state"], s["commit"]) for s in statuses] == [
        (f"ci-track/{runs.experiment}", "SUCCESSFUL", HEAD)
    ]
    assert statuses[0]["url"].startswith(mlflow_server.url)  # the candidate run


def test_fork_pipeline_without_a_token_keeps_the_gates_exit_code(
    runs: Runs, mlflow_server: MlflowServer, gitlab_fake: FakeGitLab
) -> None:
    worse = make_run(mlflow_server.url, runs.experiment, branch="feature", sha=HEAD, metrics={"accuracy": 0.5})
    env = gitlab_env(
        gitlab_fake,
        mlflow_server,
        CI_TRACK_GITLAB_TOKEN="",  # a fork's pipeline never gets the project's masked variables
        CI_PROJECT_ID="77",
        CI_MERGE_REQUEST_SOURCE_PROJECT_ID="77",
    )
    result = ci_track(*compare_args(runs, worse, "--comment", "update"), env=env, cwd=runs.workdir)
    assert result.code == 1  # the gate's verdict: a regression, not a usage error for the missing token
    assert "CI_JOB_TOKEN cannot" in result.stderr and "nothing posted to GitLab" in result.stderr
    assert gitlab_fake.requests == []


def test_a_merge_request_without_any_token_says_why_nothing_is_posted(
    runs: Runs, mlflow_server: MlflowServer, gitlab_fake: FakeGitLab
) -> None:
    env = gitlab_env(gitlab_fake, mlflow_server, CI_TRACK_GITLAB_TOKEN="")  # only CI_JOB_TOKEN
    result = ci_track(*compare_args(runs, runs.candidates[0]), env=env, cwd=runs.workdir)
    assert result.code == 0, result.stderr  # the default: not posted, and the gate's pass stands
    assert "CI_JOB_TOKEN cannot" in result.stderr and "not posted to GitLab" in result.stderr
    assert gitlab_fake.requests == []
