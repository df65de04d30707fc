"""CI context detection against real-shaped GitHub payloads, CI environments and real temporary git repos."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ci_track.ci.detect import CIContext, detect_context, detect_provider
from ci_track.ci.git import normalize_remote_url, repository_slug
from ci_track.errors import ContextError

EVENTS = Path(__file__).parent.parent / "data" / "events"

# The SHAs written in the fixture payloads.
PR_HEAD_SHA = "8f14e45fceea167a5a36dedd4bea2543a1b2c3d4"
PR_BASE_SHA = "c9f0f895fb98ab9159f51fd0297e236d5e6f7a8b"
FORK_HEAD_SHA = "a87ff679a2f3e71d9181a67b7542122c0d1e2f3a"
PUSH_AFTER_SHA = "d3d9446802a44259755d38e6d163e820a1b2c3d4"
TAG_SHA = "6512bd43d9caa6e02c990b0a82652dca1a2b3c4d"
MERGE_GROUP_HEAD_SHA = "c20ad4d76fe97759aa27a0c99bff6710a9b8c7d6"
SYNTHETIC_MERGE_SHA = "1f0e3dad99908345f7439f8ffabdffc4a1b2c3d4"  # what GITHUB_SHA is on refs/pull/N/merge
WORKFLOW_SHA = "70efdf2ec9b086079795c442636b55fb0a1b2c3d"


# --- helpers --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """git sees no user or system config, and commits get fixed identities."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))
    for name, value in {
        "GIT_AUTHOR_NAME": "Test Author",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Test Committer",
        "GIT_COMMITTER_EMAIL": "committer@example.com",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def commit(repo: Path, message: str, filename: str = "file.txt") -> str:
    path = repo / filename
    path.write_text(f"{message}\n", encoding="utf-8")
    git(repo, "add", filename)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def new_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    return path


def github_env(event: str, fixture: str | None, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_SHA": SYNTHETIC_MERGE_SHA,
        "GITHUB_REPOSITORY": "acme-ml/house-prices",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "13579246801",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_ACTOR": "alice-dev",
    }
    if fixture is not None:
        payload = tmp_path / "event.json"
        shutil.copy(EVENTS / f"{fixture}.json", payload)
        env["GITHUB_EVENT_PATH"] = str(payload)
    env.update(extra)
    return env


# --- GitHub Actions -------------------------------------------------------------------------


def test_github_pull_request_records_the_payload_head_and_keeps_the_merge_commit_aside(tmp_path: Path) -> None:
    context = detect_context(github_env("pull_request", "pull_request_same_repo", tmp_path), tmp_path)

    assert context == CIContext(
        provider="github-actions",
        event="pull_request",
        head_sha=PR_HEAD_SHA,
        merge_sha=SYNTHETIC_MERGE_SHA,
        branch="feature/lower-alpha",
        base_branch="main",
        base_sha=PR_BASE_SHA,
        pr_number=42,
        pr_title="Lower alpha to 0.05",
        is_fork=False,
        repository="acme-ml/house-prices",
        repo_url="https://github.com/acme-ml/house-prices",
        build_url="https://github.com/acme-ml/house-prices/actions/runs/13579246801/attempts/2",
        build_id="13579246801",
        run_attempt="2",
        default_branch="main",
        actor="alice-dev",
        pr_labels=(),  # the payload's labels: the override label's only source
    )
    assert context.is_pull_request


def test_github_pull_request_base_sha_is_the_real_merge_base_when_history_is_checked_out(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    fork_point = commit(repo, "base")
    git(repo, "checkout", "-q", "-b", "feature")
    head = commit(repo, "feature work", "feature.txt")
    git(repo, "checkout", "-q", "main")
    main_tip = commit(repo, "main moved on", "main.txt")
    git(repo, "checkout", "-q", "feature")
    payload = {
        "number": 5,
        "pull_request": {
            "number": 5,
            "head": {"sha": head, "ref": "feature", "repo": {"full_name": "acme/x"}},
            "base": {"sha": main_tip, "ref": "main", "repo": {"full_name": "acme/x"}},
        },
        "repository": {"full_name": "acme/x", "default_branch": "main"},
    }
    event_path = tmp_path / "pr.json"
    event_path.write_text(json.dumps(payload))
    env = github_env("pull_request", None, tmp_path, GITHUB_EVENT_PATH=str(event_path))
    assert detect_context(env, repo).base_sha == fork_point  # not main's tip from the payload
    shallow = detect_context(env, tmp_path / "elsewhere")  # no history: the payload's base tip is kept
    assert shallow.base_sha == main_tip


def test_github_pull_request_from_a_fork_is_flagged_and_keeps_the_untrusted_title_verbatim(tmp_path: Path) -> None:
    context = detect_context(github_env("pull_request", "pull_request_fork", tmp_path), tmp_path)

    assert context.is_fork is True
    assert context.head_sha == FORK_HEAD_SHA
    assert context.branch == "main"  # the fork's own main, not ours
    assert context.base_branch == "main"
    assert context.pr_number == 57
    assert context.pr_title == "Use `$(curl evil)` and <b>bold</b> ideas"


def test_github_pull_request_from_a_deleted_fork_counts_as_a_fork(tmp_path: Path) -> None:
    payload = json.loads((EVENTS / "pull_request_fork.json").read_text())
    payload["pull_request"]["head"]["repo"] = None
    (tmp_path / "event.json").write_text(json.dumps(payload))
    env = github_env("pull_request", None, tmp_path, GITHUB_EVENT_PATH=str(tmp_path / "event.json"))

    assert detect_context(env, tmp_path).is_fork is True


def test_github_pull_request_target_has_no_merge_commit(tmp_path: Path) -> None:
    # On pull_request_target GITHUB_SHA is the base branch tip, not a merge of the PR.
    env = github_env("pull_request_target", "pull_request_fork", tmp_path, GITHUB_SHA=PR_BASE_SHA)
    context = detect_context(env, tmp_path)

    assert context.head_sha == FORK_HEAD_SHA
    assert context.merge_sha is None
    assert context.is_fork is True


def test_github_push_to_main_uses_payload_after_and_the_default_branch_as_base(tmp_path: Path) -> None:
    env = github_env("push", "push_main", tmp_path, GITHUB_SHA=PUSH_AFTER_SHA, GITHUB_REF="refs/heads/main")
    context = detect_context(env, tmp_path)

    assert context.event == "push"
    assert context.head_sha == PUSH_AFTER_SHA
    assert context.merge_sha is None
    assert context.branch == "main"
    assert context.base_branch == "main"
    assert context.default_branch == "main"
    assert context.pr_number is None
    assert not context.is_pull_request


def test_github_push_of_a_tag_has_no_branch(tmp_path: Path) -> None:
    env = github_env("push", "push_tag", tmp_path, GITHUB_SHA=TAG_SHA, GITHUB_REF="refs/tags/v1.2.0")
    context = detect_context(env, tmp_path)

    assert context.head_sha == TAG_SHA
    assert context.branch is None
    assert context.base_branch == "main"


def test_github_push_without_a_payload_falls_back_to_the_variables(tmp_path: Path) -> None:
    env = github_env("push", None, tmp_path, GITHUB_SHA=PUSH_AFTER_SHA, GITHUB_REF="refs/heads/release/2.x")
    context = detect_context(env, tmp_path)

    assert context.head_sha == PUSH_AFTER_SHA
    assert context.branch == "release/2.x"
    assert context.default_branch is None


def test_github_merge_group_takes_head_and_base_from_the_merge_group(tmp_path: Path) -> None:
    env = github_env("merge_group", "merge_group", tmp_path, GITHUB_SHA=MERGE_GROUP_HEAD_SHA)
    context = detect_context(env, tmp_path)

    assert context.event == "merge_group"
    assert context.head_sha == MERGE_GROUP_HEAD_SHA
    assert context.base_branch == "main"
    assert context.base_sha == PR_BASE_SHA
    assert context.branch == f"gh-readonly-queue/main/pr-42-{PR_BASE_SHA}"
    assert context.pr_number is None


@pytest.mark.parametrize("event", ["workflow_dispatch", "schedule"])
def test_github_dispatch_and_schedule_run_on_github_sha_at_github_ref(event: str, tmp_path: Path) -> None:
    env = github_env(event, event, tmp_path, GITHUB_SHA=WORKFLOW_SHA, GITHUB_REF="refs/heads/main")
    context = detect_context(env, tmp_path)

    assert context.event == event
    assert context.head_sha == WORKFLOW_SHA
    assert context.branch == "main"
    assert context.base_branch == "main"
    assert context.default_branch == "main"


def test_github_enterprise_urls_come_from_the_environment(tmp_path: Path) -> None:
    env = github_env(
        "pull_request",
        "pull_request_same_repo",
        tmp_path,
        GITHUB_SERVER_URL="https://ghe.example.com/",
        GITHUB_API_URL="https://ghe.example.com/api/v3",
        GITHUB_RUN_ATTEMPT="",
    )
    context = detect_context(env, tmp_path)

    assert context.repo_url == "https://ghe.example.com/acme-ml/house-prices"
    assert context.build_url == "https://ghe.example.com/acme-ml/house-prices/actions/runs/13579246801/attempts/1"


def test_github_pull_request_with_a_missing_payload_file_is_an_error(tmp_path: Path) -> None:
    env = github_env("pull_request", None, tmp_path, GITHUB_EVENT_PATH=str(tmp_path / "nowhere.json"))

    with pytest.raises(ContextError, match="GITHUB_EVENT_PATH") as error:
        detect_context(env, tmp_path)
    assert "\n" not in str(error.value)
    assert "nowhere.json" in str(error.value)


def test_github_pull_request_without_github_event_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="GITHUB_EVENT_PATH"):
        detect_context(github_env("pull_request", None, tmp_path), tmp_path)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"action": "opened"}'])
def test_github_pull_request_with_an_unusable_payload_is_an_error(content: str, tmp_path: Path) -> None:
    (tmp_path / "event.json").write_text(content)
    env = github_env("pull_request", None, tmp_path, GITHUB_EVENT_PATH=str(tmp_path / "event.json"))

    with pytest.raises(ContextError, match="GITHUB_EVENT_PATH"):
        detect_context(env, tmp_path)


# --- GitLab CI ------------------------------------------------------------------------------

GITLAB_BASE = {
    "GITLAB_CI": "true",
    "CI_SERVER_URL": "https://gitlab.example.com",
    "CI_API_V4_URL": "https://gitlab.example.com/api/v4",
    "CI_PROJECT_PATH": "ml/house-prices",
    "CI_PROJECT_URL": "https://gitlab.example.com/ml/house-prices",
    "CI_PIPELINE_ID": "88123",
    "CI_JOB_URL": "https://gitlab.example.com/ml/house-prices/-/jobs/512345",
    "CI_DEFAULT_BRANCH": "main",
    "GITLAB_USER_LOGIN": "alice",
}
GITLAB_MR = {
    **GITLAB_BASE,
    "CI_PIPELINE_SOURCE": "merge_request_event",
    "CI_MERGE_REQUEST_IID": "17",
    "CI_MERGE_REQUEST_TITLE": "Draft: try $(id) features",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature/xgb",
    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
    "CI_MERGE_REQUEST_DIFF_BASE_SHA": PR_BASE_SHA,
    "CI_MERGE_REQUEST_PROJECT_PATH": "ml/house-prices",
    "CI_MERGE_REQUEST_PROJECT_URL": "https://gitlab.example.com/ml/house-prices",
    "CI_MERGE_REQUEST_PROJECT_ID": "4242",
    "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "4242",
}


def test_gitlab_merged_results_pipeline_records_the_source_sha_not_the_merge_commit(tmp_path: Path) -> None:
    env = {**GITLAB_MR, "CI_COMMIT_SHA": SYNTHETIC_MERGE_SHA, "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": PR_HEAD_SHA}
    context = detect_context(env, tmp_path)

    assert context == CIContext(
        provider="gitlab",
        event="pull_request",
        head_sha=PR_HEAD_SHA,
        merge_sha=SYNTHETIC_MERGE_SHA,
        branch="feature/xgb",
        base_branch="main",
        base_sha=PR_BASE_SHA,
        pr_number=17,
        pr_title="Draft: try $(id) features",
        is_fork=False,
        repository="ml/house-prices",
        repo_url="https://gitlab.example.com/ml/house-prices",
        build_url="https://gitlab.example.com/ml/house-prices/-/jobs/512345",
        build_id="88123",
        default_branch="main",
        actor="alice",
    )


def test_gitlab_plain_merge_request_pipeline_uses_ci_commit_sha_as_head(tmp_path: Path) -> None:
    env = {**GITLAB_MR, "CI_COMMIT_SHA": PR_HEAD_SHA, "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": ""}
    context = detect_context(env, tmp_path)

    assert context.head_sha == PR_HEAD_SHA
    assert context.merge_sha is None
    assert context.pr_number == 17


def test_gitlab_merge_request_from_a_fork_project_is_flagged(tmp_path: Path) -> None:
    env = {**GITLAB_MR, "CI_COMMIT_SHA": PR_HEAD_SHA, "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "9999"}

    assert detect_context(env, tmp_path).is_fork is True


def test_gitlab_branch_pipeline_compares_with_the_default_branch(tmp_path: Path) -> None:
    env = {**GITLAB_BASE, "CI_PIPELINE_SOURCE": "push", "CI_COMMIT_SHA": PUSH_AFTER_SHA, "CI_COMMIT_BRANCH": "dev"}
    context = detect_context(env, tmp_path)

    assert context.event == "push"
    assert context.head_sha == PUSH_AFTER_SHA
    assert context.branch == "dev"
    assert context.base_branch == "main"
    assert context.pr_number is None


def test_gitlab_merge_request_without_a_target_branch_is_an_error(tmp_path: Path) -> None:
    env = {**GITLAB_MR, "CI_COMMIT_SHA": PR_HEAD_SHA, "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": ""}

    with pytest.raises(ContextError, match="CI_MERGE_REQUEST_TARGET_BRANCH_NAME"):
        detect_context(env, tmp_path)


# --- Jenkins --------------------------------------------------------------------------------


@pytest.fixture
def jenkins_merge_checkout(tmp_path: Path) -> dict[str, str]:
    """A real workspace where Jenkins merged the PR head into the target tip on a detached HEAD."""
    repo = new_repo(tmp_path / "workspace")
    fork_point = commit(repo, "initial")
    git(repo, "checkout", "-q", "-b", "feature/jenkins")
    pr_head = commit(repo, "pr work", "pr.txt")
    git(repo, "checkout", "-q", "main")
    main_tip = commit(repo, "main moved on", "main.txt")
    git(repo, "checkout", "-q", "--detach", main_tip)
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge commit for PR-12", pr_head)
    merge = git(repo, "rev-parse", "HEAD")
    return {"repo": str(repo), "fork_point": fork_point, "pr_head": pr_head, "main_tip": main_tip, "merge": merge}


def jenkins_pr_env(git_commit: str) -> dict[str, str]:
    return {
        "JENKINS_URL": "https://ci.example.com/",
        "BUILD_URL": "https://ci.example.com/job/house-prices/job/PR-12/3/",
        "BUILD_NUMBER": "3",
        "JOB_NAME": "house-prices/PR-12",
        "BRANCH_NAME": "PR-12",
        "CHANGE_ID": "12",
        "CHANGE_TARGET": "main",
        "CHANGE_BRANCH": "feature/jenkins",
        "CHANGE_URL": "https://github.com/acme-ml/house-prices/pull/12",
        "CHANGE_TITLE": "Jenkins `backticks`",
        "CHANGE_AUTHOR": "bob",
        "GIT_COMMIT": git_commit,
        "GIT_URL": "git@github.com:acme-ml/house-prices.git",
    }


def test_jenkins_pr_merge_checkout_records_the_second_parent_as_head(jenkins_merge_checkout: dict[str, str]) -> None:
    shas = jenkins_merge_checkout
    context = detect_context(jenkins_pr_env(shas["merge"]), Path(shas["repo"]))

    assert context.provider == "jenkins"
    assert context.event == "pull_request"
    assert context.head_sha == shas["pr_head"]
    assert context.merge_sha == shas["merge"]
    assert context.base_branch == "main"
    assert context.base_sha == shas["fork_point"]  # merge-base(pr head, main) computed with git
    assert context.branch == "feature/jenkins"
    assert context.pr_number == 12
    assert context.pr_title == "Jenkins `backticks`"
    assert context.actor == "bob"
    assert context.repository == "acme-ml/house-prices"
    assert context.repo_url == "https://github.com/acme-ml/house-prices"
    assert context.build_url == "https://ci.example.com/job/house-prices/job/PR-12/3/"
    assert context.build_id == "3"


def test_jenkins_pr_head_checkout_keeps_git_commit_as_head(jenkins_merge_checkout: dict[str, str]) -> None:
    shas = jenkins_merge_checkout
    context = detect_context(jenkins_pr_env(shas["pr_head"]), Path(shas["repo"]))

    assert context.head_sha == shas["pr_head"]
    assert context.merge_sha is None


def test_jenkins_pr_without_a_local_clone_trusts_git_commit(tmp_path: Path) -> None:
    context = detect_context(jenkins_pr_env(SYNTHETIC_MERGE_SHA), tmp_path)

    assert context.head_sha == SYNTHETIC_MERGE_SHA
    assert context.base_sha is None


def test_jenkins_pr_on_github_enterprise_keeps_the_enterprise_host(tmp_path: Path) -> None:
    env = {
        **jenkins_pr_env(PR_HEAD_SHA),
        "GIT_URL": "https://ghe.corp.example/acme-ml/house-prices.git",
        "CHANGE_URL": "https://ghe.corp.example/acme-ml/house-prices/pull/12",
    }
    context = detect_context(env, tmp_path)

    assert context.repository == "acme-ml/house-prices"
    assert context.repo_url == "https://ghe.corp.example/acme-ml/house-prices"


def test_jenkins_pr_from_a_fork_is_flagged_by_change_fork(tmp_path: Path) -> None:
    env = {**jenkins_pr_env(PR_HEAD_SHA), "CHANGE_FORK": "mallory-contrib"}

    assert detect_context(env, tmp_path).is_fork is True
    assert detect_context(jenkins_pr_env(PR_HEAD_SHA), tmp_path).is_fork is False


def test_jenkins_pr_without_change_target_is_an_error(tmp_path: Path) -> None:
    env = jenkins_pr_env(PR_HEAD_SHA)
    del env["CHANGE_TARGET"]

    with pytest.raises(ContextError, match="CHANGE_TARGET") as error:
        detect_context(env, tmp_path)
    assert "house-prices/PR-12" in str(error.value)


def test_jenkins_plain_job_strips_origin_from_git_branch_and_credentials_from_urls(tmp_path: Path) -> None:
    env = {
        "BUILD_URL": "https://builder:s3cr3tpass@ci.example.com/job/train/41/",
        "JENKINS_HOME": "/var/jenkins_home",
        "BUILD_NUMBER": "41",
        "JOB_NAME": "train",
        "GIT_COMMIT": PUSH_AFTER_SHA,
        "GIT_BRANCH": "origin/release/1.x",
        "GIT_URL": "https://x-token:ghp_abcdefghijklmnop@github.example.com/acme-ml/house-prices.git",
    }
    context = detect_context(env, tmp_path)

    assert context.provider == "jenkins"
    assert context.event == "push"
    assert context.head_sha == PUSH_AFTER_SHA
    assert context.branch == "release/1.x"
    assert context.pr_number is None
    assert context.repository == "acme-ml/house-prices"
    assert context.repo_url == "https://github.example.com/acme-ml/house-prices"
    assert context.build_url == "https://ci.example.com/job/train/41/"
    assert "s3cr3t" not in repr(context) and "ghp_" not in repr(context)


def test_jenkins_multibranch_branch_build_falls_back_to_branch_name(tmp_path: Path) -> None:
    env = {"JENKINS_URL": "https://ci.example.com/", "BRANCH_NAME": "develop", "GIT_COMMIT": PUSH_AFTER_SHA}
    context = detect_context(env, tmp_path)

    assert context.branch == "develop"
    assert context.repository is None  # no GitHub-like URL to derive it from


# --- Local ----------------------------------------------------------------------------------


def test_local_repo_gives_head_branch_dirty_flag_and_default_branch(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    head = commit(repo, "first")
    (repo / "outputs.json").write_text("{}")  # untracked training output does not make it dirty

    context = detect_context({}, repo)

    assert context.provider == "local"
    assert context.event == "manual"
    assert context.head_sha == head
    assert context.branch == "main"
    assert context.dirty is False
    assert context.default_branch == "main"
    assert context.base_branch == "main"
    assert context.base_sha == head
    assert context.repo_url is None


def test_local_repo_with_modified_tracked_file_is_dirty(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    commit(repo, "first")
    (repo / "file.txt").write_text("changed\n")

    assert detect_context({}, repo).dirty is True


def test_local_detached_head_has_no_branch(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    first = commit(repo, "first")
    commit(repo, "second")
    git(repo, "checkout", "-q", "--detach", first)

    context = detect_context({}, repo)

    assert context.head_sha == first
    assert context.branch is None


def test_local_context_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    head = commit(repo, "first")
    (repo / "src" / "deep").mkdir(parents=True)

    assert detect_context({}, repo / "src" / "deep").head_sha == head


@pytest.mark.parametrize(
    ("origin", "repo_url"),
    [
        (
            "https://alice:ghp_s3cretT0ken@github.com/acme-ml/house-prices.git",
            "https://github.com/acme-ml/house-prices",
        ),
        ("git@github.com:acme-ml/house-prices.git", "https://github.com/acme-ml/house-prices"),
    ],
)
def test_local_origin_url_is_browsable_and_has_no_credentials(origin: str, repo_url: str, tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    commit(repo, "first")
    git(repo, "remote", "add", "origin", origin)

    context = detect_context({}, repo)

    assert context.repo_url == repo_url
    assert context.repository == "acme-ml/house-prices"
    assert "s3cret" not in repr(context)


def test_local_feature_branch_gets_the_merge_base_with_main(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    commit(repo, "one")
    fork_point = commit(repo, "two")
    git(repo, "checkout", "-q", "-b", "feature/x")
    feature_head = commit(repo, "feature", "feature.txt")
    git(repo, "checkout", "-q", "main")
    commit(repo, "main moves on")
    git(repo, "checkout", "-q", "feature/x")

    context = detect_context({}, repo)

    assert context.head_sha == feature_head
    assert context.branch == "feature/x"
    assert context.base_branch == "main"
    assert context.base_sha == fork_point


def test_local_clone_reads_the_default_branch_from_origin_head(tmp_path: Path) -> None:
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git(upstream, "init", "-q", "-b", "trunk")
    trunk_head = commit(upstream, "first")
    subprocess.run(["git", "clone", "-q", str(upstream), str(tmp_path / "clone")], check=True)
    clone = tmp_path / "clone"
    git(clone, "checkout", "-q", "-b", "topic")
    topic_head = commit(clone, "topic work", "topic.txt")

    context = detect_context({}, clone)

    assert context.default_branch == "trunk"
    assert context.base_branch == "trunk"
    assert context.base_sha == trunk_head
    assert context.head_sha == topic_head
    assert context.repo_url == str(upstream)  # a local path stays a path


def test_outside_any_git_repo_the_context_has_no_head(tmp_path: Path) -> None:
    context = detect_context({}, tmp_path)

    assert context == CIContext(provider="local", event="manual", head_sha=None)


def test_empty_repository_has_no_head_and_does_not_raise(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")

    context = detect_context({}, repo)

    assert context.head_sha is None
    assert context.base_sha is None


# --- Overrides and errors -------------------------------------------------------------------


def test_overrides_win_over_every_provider(tmp_path: Path) -> None:
    override_sha = "ABCDEF0123456789abcdef0123456789abcdef01"
    env = github_env(
        "pull_request",
        "pull_request_same_repo",
        tmp_path,
        CI_TRACK_HEAD_SHA=override_sha,
        CI_TRACK_BRANCH="custom/branch",
        CI_TRACK_BASE_BRANCH="release",
        CI_TRACK_PR_NUMBER="99",
    )
    context = detect_context(env, tmp_path)

    assert context.head_sha == override_sha.lower()
    assert context.branch == "custom/branch"
    assert context.base_branch == "release"
    assert context.pr_number == 99
    assert context.base_sha is None  # the payload's base SHA belonged to another head/base pair


def test_empty_overrides_are_ignored(tmp_path: Path) -> None:
    env = github_env(
        "pull_request",
        "pull_request_same_repo",
        tmp_path,
        CI_TRACK_HEAD_SHA="",
        CI_TRACK_BRANCH=" ",
        CI_TRACK_PR_NUMBER="",
    )
    context = detect_context(env, tmp_path)

    assert context.head_sha == PR_HEAD_SHA
    assert context.branch == "feature/lower-alpha"
    assert context.pr_number == 42


def test_override_turns_a_local_run_into_a_pr_run_with_merge_base_from_git(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    base = commit(repo, "base")
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, "feature", "f.txt")

    context = detect_context({"CI_TRACK_PR_NUMBER": "#5", "CI_TRACK_BASE_BRANCH": "main"}, repo)

    assert context.pr_number == 5
    assert context.base_sha == base


@pytest.mark.parametrize(
    ("name", "value"),
    [("CI_TRACK_HEAD_SHA", "HEAD"), ("CI_TRACK_HEAD_SHA", "abc123"), ("CI_TRACK_PR_NUMBER", "twelve")],
)
def test_malformed_overrides_are_errors_naming_the_variable(name: str, value: str, tmp_path: Path) -> None:
    with pytest.raises(ContextError, match=name):
        detect_context({name: value}, tmp_path)


def test_unknown_base_branch_leaves_base_sha_empty_instead_of_failing(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    commit(repo, "first")

    context = detect_context({"CI_TRACK_BASE_BRANCH": "--output=/tmp/x"}, repo)

    assert context.base_branch == "--output=/tmp/x"
    assert context.base_sha is None


def test_provider_detection_order(tmp_path: Path) -> None:
    assert detect_provider({"GITHUB_ACTIONS": "true", "GITLAB_CI": "true"}) == "github-actions"
    assert detect_provider({"GITLAB_CI": "true", "JENKINS_URL": "x"}) == "gitlab"
    assert detect_provider({"BUILD_URL": "x", "JENKINS_HOME": "/j"}) == "jenkins"
    assert detect_provider({"BUILD_URL": "x"}) == "local"
    assert detect_provider({"GITHUB_ACTIONS": "false"}) == "local"


# --- URL helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected", "slug"),
    [
        ("https://github.com/acme/repo.git", "https://github.com/acme/repo", "acme/repo"),
        ("https://user:tok@github.com/acme/repo/", "https://github.com/acme/repo", "acme/repo"),
        ("git@github.com:acme/repo.git", "https://github.com/acme/repo", "acme/repo"),
        ("ssh://git@ghe.corp:2222/acme/repo.git", "https://ghe.corp/acme/repo", "acme/repo"),
        ("git://github.com/acme/repo.git", "https://github.com/acme/repo", "acme/repo"),
        ("https://gitlab.example.com/group/sub/project.git", "https://gitlab.example.com/group/sub/project", None),
        ("http://localhost:3000/acme/repo.git", "http://localhost:3000/acme/repo", "acme/repo"),
        ("/srv/git/repo.git", "/srv/git/repo.git", None),
        ("file:///srv/git/repo.git", "file:///srv/git/repo.git", None),
    ],
)
def test_remote_urls_normalize_to_browsable_urls(url: str, expected: str, slug: str | None) -> None:
    assert normalize_remote_url(url) == expected
    assert repository_slug(url) == slug


def test_git_lookups_never_raise_when_git_state_is_odd(tmp_path: Path) -> None:
    # A .git directory that is not a repository: open_repo gives up quietly.
    (tmp_path / "broken" / ".git").mkdir(parents=True)
    context = detect_context({}, tmp_path / "broken")

    assert context.head_sha is None
    assert os.path.isdir(tmp_path / "broken" / ".git")


def test_git_adapter_answers_unknown_for_odd_repositories_and_never_raises(tmp_path: Path) -> None:
    from ci_track.ci import git as git_repo

    repo_path = new_repo(tmp_path / "repo")
    first = commit(repo_path, "first")
    environ = dict(os.environ)
    (repo_path / "sub").mkdir()
    repo = git_repo.open_repo(repo_path / "sub", environ)  # found from a subdirectory, asked from the top
    assert repo is not None
    assert git_repo.head_sha(repo) == first
    assert git_repo.work_tree(repo) == repo_path.resolve()
    assert git_repo.branch(repo) == "main"
    assert git_repo.is_dirty(repo) is False
    assert git_repo.origin_url(repo) is None  # no origin remote
    assert git_repo.parents(repo, first) == []  # a root commit
    assert git_repo.parents(repo, "0" * 40) == []  # an unknown commit
    assert git_repo.merge_base(repo, first, "0" * 40) is None
    assert git_repo.merge_base(repo, "--all", first) is None  # never an option
    assert git_repo.has_commit(repo, "0" * 40) is False
    assert git_repo.file_at(repo, first, "file.txt") == b"first\n"
    assert git_repo.file_at(repo, first, "missing.yml") is None
    assert git_repo.file_at(repo, "0" * 40, "file.txt") is None
    assert git_repo.resolve_commit(repo, "refs/heads/nope") is None
    assert git_repo.resolve_commit(repo, "--all") is None
    assert git_repo.is_shallow(repo) is False
    (repo_path / "file.txt").write_text("changed\n")
    assert git_repo.is_dirty(repo) is True
    subprocess.run(["git", "-C", str(repo_path), "checkout", "-q", "--detach"], check=True)
    assert git_repo.branch(repo) is None  # a detached HEAD has no branch

    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo_path), str(bare)], check=True)
    opened = git_repo.open_repo(bare, environ)
    assert opened is not None
    assert git_repo.work_tree(opened) is None
    assert git_repo.is_dirty(opened) is None  # no work tree: unknown, not clean
    assert git_repo.changed_paths(opened) is None
    assert git_repo.head_sha(opened) == first

    (repo_path / ".git" / "HEAD").write_text("garbage\n")  # git no longer takes it for a repository
    assert git_repo.open_repo(repo_path, environ) is None
    assert git_repo.open_repo(tmp_path / "no-such-directory", environ) is None
    assert git_repo.open_repo(repo_path, {**environ, "PATH": str(tmp_path / "no-git-here")}) is None  # git missing

    nested_path = new_repo(tmp_path / "nested")
    (nested_path / "conf").mkdir()
    tip = commit(nested_path, "nested", "conf/rules.yml")
    nested = git_repo.open_repo(nested_path, environ)
    assert nested is not None
    assert git_repo.file_at(nested, tip, "conf/rules.yml") == b"nested\n"
    assert git_repo.file_at(nested, tip, "conf") is None  # a directory there, not a file


GATE_PROBE = """
import json, sys
from pathlib import Path
from ci_track.commands._gate import GateRequest, prepare_gate
request = GateRequest(config_path=None, overrides={"experiment": "house-prices"})
context, rules = prepare_gate(request, json.loads(sys.argv[1]), Path(sys.argv[2]))
print(json.dumps({"head_sha": context.head_sha}))
"""


def _gate_probe(environ: dict[str, str], cwd: Path, tmp_path: Path) -> dict[str, object]:
    """prepare_gate (what compare does before any MLflow request) in a fresh interpreter, counting git processes.

    The git on the probe's PATH is a real one behind a script that writes a line per process it starts.
    """
    root = Path(__file__).resolve().parents[2]
    real_git = shutil.which("git")
    assert real_git
    bindir, log = tmp_path / "counting-bin", tmp_path / "git-processes.log"
    bindir.mkdir(exist_ok=True)
    log.write_text("")
    wrapper = bindir / "git"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {shlex.quote(str(log))}\nexec {shlex.quote(real_git)} "$@"\n')
    wrapper.chmod(0o755)
    environ = {**environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [sys.executable, "-c", GATE_PROBE, json.dumps(environ), str(cwd)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    result: dict[str, object] = json.loads(done.stdout)
    result["git_processes"] = len(log.read_text().splitlines())
    return result


def test_a_gate_whose_ci_names_the_commit_never_runs_git(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    head = commit(repo, "first")
    push = github_env("push", "push_main", tmp_path, GITHUB_SHA=head, GITHUB_REF="refs/heads/main")
    gitlab = {
        "GITLAB_CI": "true",
        "CI_PIPELINE_SOURCE": "push",
        "CI_COMMIT_SHA": head,
        "CI_COMMIT_BRANCH": "main",
        "CI_DEFAULT_BRANCH": "main",
    }

    assert _gate_probe(push, repo, tmp_path) == {"git_processes": 0, "head_sha": PUSH_AFTER_SHA}  # the payload's
    assert _gate_probe(gitlab, repo, tmp_path) == {"git_processes": 0, "head_sha": head}
    # A local build asks the repository for its commit: that is when git runs (a handful of processes).
    local = _gate_probe({}, repo, tmp_path)
    assert local["head_sha"] == head
    assert 1 <= int(str(local["git_processes"])) <= 12
    # `run` still records the merge-base of a branch build (the merge-base champion strategy reads it).
    assert detect_context(gitlab, repo).base_sha == head
