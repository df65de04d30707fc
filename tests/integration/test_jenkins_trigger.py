"""`ci-track jenkins trigger` against a stateful fake Jenkins (tests/fakes/fake_jenkins.py).

The CLI runs in a subprocess as a CI step would, with the environment of a GitHub Actions
pull_request job, and talks to the fake through python-jenkins (basic auth, CSRF crumb).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ci_track.ci.context import CIContext
from ci_track.errors import ExitCode, UsageError
from ci_track.jenkins import trigger
from ci_track.jenkins.client import job_path
from ci_track.jenkins.properties import parse_properties
from tests.cli_helpers import CliResult, base_env, ci_track, github_pr_build
from tests.fakes.fake_jenkins import CRUMB_FIELD, FakeJenkins, FakeJob

USER = "ci-bot"
TOKEN = "11f0e1d2c3b4a59687fakeJenkinsApiToken"
HEAD_SHA = "a" * 40
RUN_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def jenkins() -> Iterator[FakeJenkins]:
    with FakeJenkins(users={USER: TOKEN, "viewer": "viewer-token-0987"}, readonly_users={"viewer"}) as server:
        yield server


@pytest.fixture
def github_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a GitHub Actions pull_request job for PR #42 (feature/x -> main)."""
    output = tmp_path / "github_output"
    output.touch()
    build = github_pr_build(
        tmp_path / "event.json",
        repository="acme/model",
        number=42,
        head_sha=HEAD_SHA,
        head_ref="feature/x",
        title="Tune the model",
        GITHUB_OUTPUT=str(output),
        JENKINS_USER=USER,
        JENKINS_TOKEN=TOKEN,
    )
    return base_env(**build)


def trigger_cli(jenkins: FakeJenkins, env: dict[str, str], cwd: Path, *args: str) -> CliResult:
    result = ci_track("jenkins", "trigger", "--url", jenkins.url, "--poll-interval", "0.01", *args, env=env, cwd=cwd)
    assert TOKEN not in result.stdout + result.stderr
    return result


def github_output(env: dict[str, str]) -> list[str]:
    return Path(env["GITHUB_OUTPUT"]).read_text(encoding="utf-8").splitlines()


# --- against the fake -----------------------------------------------------------------------


def test_successful_build_exits_0_and_reports_the_run_id(jenkins: FakeJenkins, github_env, tmp_path) -> None:
    jenkins.add_job(FakeJob(name="model-gate", description=f"ci-track run: {RUN_ID}", queue_polls=2))
    result = trigger_cli(jenkins, github_env, tmp_path, "--job", "model-gate", "--wait")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"queued: {jenkins.url}queue/item/1/"
    assert "waiting: Waiting for next available executor" in lines
    assert f"build: {jenkins.url}job/model-gate/1/" in lines
    assert f"result: SUCCESS ({jenkins.url}job/model-gate/1/)" in lines
    assert lines[-1] == f"run-id={RUN_ID}"
    assert github_output(github_env) == [
        f"queue-url={jenkins.url}queue/item/1/",
        f"build-url={jenkins.url}job/model-gate/1/",
        "build-number=1",
        "result=SUCCESS",
        f"run-id={RUN_ID}",
    ]


def test_commit_branch_and_pr_are_passed_as_the_parameters_the_job_declares(
    jenkins: FakeJenkins, github_env, tmp_path
) -> None:
    jenkins.add_job(FakeJob(name="model-gate"))
    result = trigger_cli(jenkins, github_env, tmp_path, "--job", "model-gate", "--wait")
    assert result.code == 0, result.stderr
    # CI_TRACK_BASE_BRANCH is known too, but this job does not declare it, so it is not sent
    assert jenkins.started_builds("model-gate")[0].parameters == {
        "CI_TRACK_HEAD_SHA": HEAD_SHA,
        "CI_TRACK_BRANCH": "feature/x",
        "CI_TRACK_PR_NUMBER": "42",
    }
    assert "CI_TRACK_BASE_BRANCH" not in jenkins.posts()[0].path


def test_user_param_wins_over_the_detected_context(jenkins: FakeJenkins, github_env, tmp_path) -> None:
    jenkins.add_job(FakeJob(name="train", parameters=("CI_TRACK_BRANCH", "CI_TRACK_PR_NUMBER", "EPOCHS")))
    result = trigger_cli(
        jenkins,
        github_env,
        tmp_path,
        "--job",
        "train",
        "--param",
        "CI_TRACK_BRANCH=release/1.x",
        "--param",
        "EPOCHS=3",
        "--param",
        "UNDECLARED=x",
        "--wait",
    )
    assert result.code == 0, result.stderr
    assert jenkins.started_builds("train")[0].parameters == {
        "CI_TRACK_BRANCH": "release/1.x",
        "CI_TRACK_PR_NUMBER": "42",
        "EPOCHS": "3",
    }
    assert "note: job train does not declare parameter UNDECLARED; Jenkins will ignore it" in result.stdout


def test_the_post_carries_the_crumb_and_the_credentials(jenkins: FakeJenkins, github_env, tmp_path) -> None:
    jenkins.add_job(FakeJob(name="model-gate"))
    result = trigger_cli(jenkins, github_env, tmp_path, "--job", "model-gate")
    assert result.code == 0, result.stderr
    (post,) = jenkins.posts()
    assert post.path.startswith("/job/model-gate/buildWithParameters?")
    assert post.user == USER
    assert post.headers.get(CRUMB_FIELD)
    assert jenkins.crumbs_issued == 1


def test_without_wait_only_the_queue_url_is_printed(jenkins: FakeJenkins, github_env, tmp_path) -> None:
    jenkins.add_job(FakeJob(name="model-gate", never_starts=True))
    result = trigger_cli(jenkins, github_env, tmp_path, "--job", "model-gate")
    assert result.code == 0, result.stderr
    assert result.stdout == f"queued: {jenkins.url}queue/item/1/\n"
    assert not any("/queue/item/" in r.path for r in jenkins.requests)
    assert github_output(github_env) == [f"queue-url={jenkins.url}queue/item/1/"]


def test_failed_build_exits_1_and_names_the_result(jenkins: FakeJenkins, github_env, tmp_path) -> None:
    jenkins.add_job(FakeJob(name="model-gate", result="FAILURE", description=f"ci-track run: {RUN_ID}"))
    result = trigger_cli(jenkins, github_env, tmp_path, "--job", "model-gate", "--wait")
    assert result.code == ExitCode.REGRESSION
    assert f"result: FAILURE ({jenkins.url}job/model-gate/1/)" in result.stdout.splitlines()
    assert f"run-id={RUN_ID}" in result.stdout.splitlines()
    assert "result=FAILURE" in github_output(github_env)


def test_unstable_build_exits_1(jenkins: FakeJenkins, github_env, tmp_path) -> None:
    jenkins.add_job(FakeJob(name="model-gate", result="UNSTABLE"))
    result = trigger_cli(jenkins, github_env, tmp_path, "--job", "model-gate", "--wait")
    assert result.code == ExitCode.REGRESSION
    assert "result: UNSTABLE" in result.stdout


@pytest.mark.parametrize(
    ("job", "args", "message"),
    [
        pytest.param(
            {"result": "ABORTED"},
            (),
            "build {url}job/model-gate/1/ ended ABORTED: it was stopped before it gave a verdict",
            id="aborted-build",
        ),
        pytest.param(
            {"cancelled": True},
            (),
            "the queue item {url}queue/item/1/ was cancelled before a build started",
            id="cancelled-queue-item",
        ),
        pytest.param(
            {"never_starts": True},
            ("--timeout", "0.2"),
            "timed out after 0.2 s waiting for {url}queue/item/1/ to start a build "
            "(Jenkins says: Waiting for next available executor)",
            id="timeout-in-the-queue",
        ),
    ],
)
def test_a_build_without_a_verdict_exits_3_with_one_line_naming_it(
    jenkins: FakeJenkins, github_env, tmp_path, job: dict, args: tuple[str, ...], message: str
) -> None:
    jenkins.add_job(FakeJob(name="model-gate", **job))
    result = trigger_cli(jenkins, github_env, tmp_path, "--job", "model-gate", "--wait", *args)
    assert result.code == ExitCode.SERVICE
    assert result.error_lines == [f"ci-track: error: {message.format(url=jenkins.url)}"]


def test_timeout_while_building_exits_3_with_the_build_url(jenkins: FakeJenkins, github_env, tmp_path) -> None:
    jenkins.add_job(FakeJob(name="model-gate", never_finishes=True))
    result = trigger_cli(jenkins, github_env, tmp_path, "--job", "model-gate", "--follow", "--timeout", "0.3")
    assert result.code == ExitCode.SERVICE
    assert result.error_lines == [
        f"ci-track: error: timed out after 0.3 s waiting for build {jenkins.url}job/model-gate/1/ to finish"
    ]
    assert "Started by remote host\nFinished\n" in result.stdout


def test_wrong_token_is_one_line_naming_the_variables(jenkins: FakeJenkins, github_env, tmp_path) -> None:
    jenkins.add_job(FakeJob(name="model-gate"))
    env = {**github_env, "JENKINS_TOKEN": "wrong-token-5f4e3d2c1b"}
    result = trigger_cli(jenkins, env, tmp_path, "--job", "model-gate", "--wait")
    assert result.code == ExitCode.SERVICE
    assert result.error_lines == [
        f"ci-track: error: Jenkins at {jenkins.url} rejected the credentials (HTTP 401) while reading the job: "
        "check JENKINS_USER and JENKINS_TOKEN (an API token from the user's Security page)"
    ]
    assert "wrong-token-5f4e3d2c1b" not in result.stdout + result.stderr
    assert jenkins.posts() == []


def test_user_without_build_permission_is_refused(jenkins: FakeJenkins, github_env, tmp_path) -> None:
    jenkins.add_job(FakeJob(name="model-gate"))
    env = {**github_env, "JENKINS_USER": "viewer", "JENKINS_TOKEN": "viewer-token-0987"}
    result = trigger_cli(jenkins, env, tmp_path, "--job", "model-gate")
    assert result.code == ExitCode.SERVICE
    assert result.error_lines == [
        f"ci-track: error: Jenkins at {jenkins.url} refused access (HTTP 403) while starting the build: "
        "JENKINS_USER needs the Overall/Read, Job/Read and Job/Build permissions on model-gate"
    ]


def test_missing_credentials_are_refused_by_a_secured_jenkins(jenkins: FakeJenkins, github_env, tmp_path) -> None:
    jenkins.add_job(FakeJob(name="model-gate"))
    env = {k: v for k, v in github_env.items() if k not in ("JENKINS_USER", "JENKINS_TOKEN")}
    result = trigger_cli(jenkins, env, tmp_path, "--job", "model-gate")
    assert result.code == ExitCode.SERVICE
    assert result.error_lines == [
        f"ci-track: error: Jenkins at {jenkins.url} refused anonymous access (HTTP 403) while reading the job: "
        "set JENKINS_USER and JENKINS_TOKEN"
    ]


def test_unknown_job_is_one_line(jenkins: FakeJenkins, github_env, tmp_path) -> None:
    result = trigger_cli(jenkins, github_env, tmp_path, "--job", "no-such-job", "--wait")
    assert result.code == ExitCode.SERVICE
    assert result.error_lines == [
        f"ci-track: error: Jenkins at {jenkins.url} has no job 'no-such-job' (HTTP 404): "
        "check --job (jobs in folders are written folder/job)"
    ]


def test_follow_streams_the_whole_console_once_in_order(jenkins: FakeJenkins, github_env, tmp_path) -> None:
    # "café ☃" with both multi-byte characters split between two polls
    console: list[str | bytes] = [
        "[Pipeline] Start\n",
        "epoch 1 loss=0.9\nepoch 2 ",
        b"loss=0.5 caf\xc3",
        b"\xa9 \xe2\x98",
    ]
    console += [b"\x83\nverdict: pass", "\nFinished\n"]
    jenkins.add_job(FakeJob(name="model-gate", console=console, description=f"ci-track run: {RUN_ID}"))
    result = trigger_cli(jenkins, github_env, tmp_path, "--job", "model-gate", "--follow")
    assert result.code == 0, result.stderr
    expected = "[Pipeline] Start\nepoch 1 loss=0.9\nepoch 2 loss=0.5 café ☃\nverdict: pass\nFinished\n"
    assert expected in result.stdout
    assert result.stdout.count("epoch 2") == 1
    # the console is printed before the result line
    assert result.stdout.index("Finished\n") < result.stdout.index("result: SUCCESS")
    assert any("/logText/progressiveText?start=" in r.path for r in jenkins.requests)


def test_follow_redacts_tokens_the_console_prints(jenkins: FakeJenkins, github_env, tmp_path) -> None:
    jenkins.add_job(FakeJob(name="model-gate", console=[f"curl -u {USER}:{TOKEN[:10]}", f"{TOKEN[10:]} ...\n"]))
    result = trigger_cli(jenkins, github_env, tmp_path, "--job", "model-gate", "--follow")
    assert result.code == 0, result.stderr
    assert f"curl -u {USER}:*** ...\n" in result.stdout


def test_run_id_is_read_from_the_archived_properties_when_the_description_is_the_verdict(
    jenkins: FakeJenkins, github_env, tmp_path
) -> None:
    properties = f"RUN_ID={RUN_ID}\nRUN_URL=http://mlflow:5000/#/experiments/1/runs/{RUN_ID}\nEXPERIMENT_ID=1\n"
    jenkins.add_job(
        FakeJob(
            name="model-gate",
            description="verdict: pass (3 metrics within tolerance)",
            artifacts={"ci-track.properties": properties.encode(), "ci-track-report/report.md": b"# report\n"},
        )
    )
    result = trigger_cli(jenkins, github_env, tmp_path, "--job", "model-gate", "--wait")
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"run-id={RUN_ID}"
    assert f"run-id={RUN_ID}" in github_output(github_env)


def test_a_description_cannot_inject_github_outputs(jenkins: FakeJenkins, github_env, tmp_path) -> None:
    jenkins.add_job(FakeJob(name="model-gate", description="ci-track run: bad\nrun-id=injected"))
    result = trigger_cli(jenkins, github_env, tmp_path, "--job", "model-gate", "--wait")
    assert result.code == 0, result.stderr
    assert "run-id=bad" in result.stdout.splitlines()
    assert "run-id=injected" not in github_output(github_env)


def test_job_in_a_folder(github_env, tmp_path) -> None:
    with FakeJenkins(users={USER: TOKEN}, folders=("ml",)) as jenkins:
        jenkins.add_job(FakeJob(name="ml/model gate", description=f"ci-track run: {RUN_ID}"))
        result = trigger_cli(jenkins, github_env, tmp_path, "--job", "ml/model gate", "--wait")
        assert result.code == 0, result.stderr
        assert f"build: {jenkins.url}job/ml/job/model%20gate/1/" in result.stdout.splitlines()
        folder = trigger_cli(jenkins, github_env, tmp_path, "--job", "ml")
        assert folder.code == ExitCode.USAGE
        assert folder.error_lines == [
            "ci-track: error: ml is a folder or multibranch project: name a job in it, e.g. ml/main"
        ]


def test_job_without_parameters_is_built_without_them(jenkins: FakeJenkins, github_env, tmp_path) -> None:
    jenkins.add_job(FakeJob(name="nightly", parameters=None))
    result = trigger_cli(jenkins, github_env, tmp_path, "--job", "nightly", "--wait")
    assert result.code == 0, result.stderr
    assert jenkins.posts()[0].path == "/job/nightly/build"
    assert "note: job nightly declares no parameters, so the commit, branch and PR are not passed" in result.stdout
    rejected = trigger_cli(jenkins, github_env, tmp_path, "--job", "nightly", "--param", "A=1")
    assert rejected.code == ExitCode.USAGE
    assert rejected.error_lines[0].startswith("ci-track: error: the job declares no parameters, so --param A")


def test_disabled_job_is_refused(jenkins: FakeJenkins, github_env, tmp_path) -> None:
    jenkins.add_job(FakeJob(name="model-gate", buildable=False))
    result = trigger_cli(jenkins, github_env, tmp_path, "--job", "model-gate")
    assert result.code == ExitCode.SERVICE
    assert result.error_lines == [f"ci-track: error: job model-gate on {jenkins.url} is disabled (not buildable)"]


def test_unreachable_jenkins_is_one_line(github_env, tmp_path) -> None:
    with FakeJenkins() as stopped:
        url = stopped.url
    result = ci_track("jenkins", "trigger", "--url", url, "--job", "x", env=github_env, cwd=tmp_path)
    assert result.code == ExitCode.SERVICE
    assert result.error_lines == [
        f"ci-track: error: could not reach Jenkins at {url} while reading the job: Connection refused"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "ftp://jenkins", "--job", "x"], "--url must be an http(s) URL of the Jenkins server"),
        (["--url", f"http://{USER}:{TOKEN}@127.0.0.1:1/", "--job", "x"], "--url must not contain credentials"),
        (["--url", "http://127.0.0.1:1", "--job", "x", "--param", "novalue"], "--param expects KEY=VALUE"),
        (["--url", "http://127.0.0.1:1", "--job", "x", "--timeout", "0"], "--timeout must be more than 0"),
        (["--url", "http://127.0.0.1:1", "--job", "/"], "--job is empty"),
    ],
)
def test_bad_arguments_are_usage_errors(github_env, tmp_path, args: list[str], message: str) -> None:
    result = ci_track("jenkins", "trigger", *args, env=github_env, cwd=tmp_path)
    assert result.code == ExitCode.USAGE
    assert len(result.error_lines) == 1
    assert message in result.error_lines[0]
    assert TOKEN not in result.stdout + result.stderr


def test_half_the_credentials_is_a_usage_error(github_env, tmp_path) -> None:
    env = {k: v for k, v in github_env.items() if k != "JENKINS_TOKEN"}
    result = ci_track("jenkins", "trigger", "--url", "http://127.0.0.1:1", "--job", "x", env=env, cwd=tmp_path)
    assert result.code == ExitCode.USAGE
    assert result.error_lines == [
        "ci-track: error: JENKINS_TOKEN is not set: JENKINS_USER and JENKINS_TOKEN go together"
    ]


# --- pure parts -----------------------------------------------------------------------------


def test_result_exit_codes() -> None:
    assert trigger.exit_code_for_result("SUCCESS") == ExitCode.OK
    assert trigger.exit_code_for_result("UNSTABLE") == ExitCode.REGRESSION
    assert trigger.exit_code_for_result("FAILURE") == ExitCode.REGRESSION
    for stopped in ("ABORTED", "NOT_BUILT", "CANCELLED", None):
        assert trigger.exit_code_for_result(stopped) == ExitCode.SERVICE


def test_context_parameters_leave_out_what_is_unknown() -> None:
    context = CIContext(provider="local", event="manual", head_sha=HEAD_SHA, branch="main")
    assert trigger.context_parameters(context) == {"CI_TRACK_HEAD_SHA": HEAD_SHA, "CI_TRACK_BRANCH": "main"}
    pr = CIContext(provider="github-actions", event="pull_request", head_sha=HEAD_SHA, base_branch="main", pr_number=7)
    assert trigger.context_parameters(pr)["CI_TRACK_PR_NUMBER"] == "7"
    assert trigger.context_parameters(None) == {}


def test_build_parameters_send_declared_context_values_and_every_user_value() -> None:
    context = {"CI_TRACK_HEAD_SHA": HEAD_SHA, "CI_TRACK_BRANCH": "main"}
    declared = frozenset({"CI_TRACK_BRANCH", "X"})
    assert trigger.build_parameters(context, {"X": "1", "CI_TRACK_BRANCH": "dev"}, declared) == {
        "CI_TRACK_BRANCH": "dev",
        "X": "1",
    }
    assert trigger.build_parameters(context, {}, None) == {}
    with pytest.raises(UsageError):
        trigger.build_parameters(context, {"X": "1"}, None)


def test_run_id_from_description() -> None:
    assert trigger.run_id_from_description(f"ci-track run: {RUN_ID}") == RUN_ID
    assert trigger.run_id_from_description(f"<b>ci-track run: {RUN_ID} (promoted)</b>") == RUN_ID
    assert trigger.run_id_from_description("verdict: pass") is None
    assert trigger.run_id_from_description("ci-track run: $(id)") is None
    assert trigger.run_id_from_description(None) is None


def test_parse_properties() -> None:
    text = "# comment\nRUN_ID=abc\nRUN_URL=http\\://h\\:5000/\\#/x\nEXPERIMENT_ID = 1\nNAME=caf\\u00e9\n"
    assert parse_properties(text) == {
        "RUN_ID": "abc",
        "RUN_URL": "http://h:5000/#/x",
        "EXPERIMENT_ID": "1",
        "NAME": "café",
    }
    assert parse_properties("RUN_URL=http://plain:5000/x") == {"RUN_URL": "http://plain:5000/x"}


def test_github_output_values_leave_out_values_that_would_break_the_file() -> None:
    outcome = trigger.BuildOutcome(queue_url="http://j/queue/item/1/", result="SUCCESS\nrun-id=x", run_id=RUN_ID)
    assert trigger.github_output_values(outcome) == {"queue-url": "http://j/queue/item/1/", "run-id": RUN_ID}


def test_job_path_quotes_each_name() -> None:
    assert job_path("folder/my job") == "job/folder/job/my%20job/"
    assert job_path("a#b") == "job/a%23b/"
