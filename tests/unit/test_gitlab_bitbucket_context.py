"""GitLab and Bitbucket builds as their CIs describe them, the forge each publishes to, their settings (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_track.ci.bitbucket import bitbucket_context
from ci_track.ci.detect import detect_context, detect_provider
from ci_track.ci.gitlab import gitlab_context
from ci_track.commands._publish import choose_forge
from ci_track.errors import ContextError, UsageError
from ci_track.settings import BitbucketSettings, GitLabSettings, MissingForgeToken, has_forge_token

HEAD = "a" * 40
MERGE = "e" * 40


def gitlab_mr(**extra: str) -> dict[str, str]:
    """A merge request pipeline as GitLab sets it (merged results unless told otherwise)."""
    return {
        "GITLAB_CI": "true",
        "CI": "true",
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_PIPELINE_ID": "1234",
        "CI_JOB_URL": "https://gitlab.example/group/sub/proj/-/jobs/99",
        "CI_COMMIT_SHA": MERGE,
        "CI_MERGE_REQUEST_IID": "7",
        "CI_MERGE_REQUEST_EVENT_TYPE": "merged_result",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": HEAD,
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": "b" * 40,
        "CI_MERGE_REQUEST_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_PROJECT_PATH": "group/sub/proj",
        "CI_MERGE_REQUEST_PROJECT_URL": "https://gitlab.example/group/sub/proj",
        "CI_PROJECT_ID": "42",
        "CI_PROJECT_PATH": "group/sub/proj",
        "CI_PROJECT_URL": "https://gitlab.example/group/sub/proj",
        "CI_SERVER_URL": "https://gitlab.example",
        "CI_API_V4_URL": "https://gitlab.example/api/v4",
        **extra,
    }


def bitbucket_pr(**extra: str) -> dict[str, str]:
    return {
        "CI": "true",
        "BITBUCKET_BUILD_NUMBER": "31",
        "BITBUCKET_COMMIT": HEAD,
        "BITBUCKET_BRANCH": "feature",
        "BITBUCKET_PR_ID": "12",
        "BITBUCKET_PR_DESTINATION_BRANCH": "main",
        "BITBUCKET_REPO_FULL_NAME": "acme/ml-repo",
        "BITBUCKET_WORKSPACE": "acme",
        "BITBUCKET_REPO_SLUG": "ml-repo",
        "BITBUCKET_GIT_HTTP_ORIGIN": "http://bitbucket.org/acme/ml-repo",
        **extra,
    }


def test_merged_results_pipeline_is_gated_on_the_source_sha_never_the_merge() -> None:
    context = gitlab_context(gitlab_mr())
    assert (context.head_sha, context.merge_sha) == (HEAD, MERGE)
    assert (context.pr_number, context.base_branch, context.repository) == (7, "main", "group/sub/proj")
    assert not context.is_fork


def test_detached_pipeline_runs_on_the_head_itself() -> None:
    context = gitlab_context(gitlab_mr(CI_COMMIT_SHA=HEAD, CI_MERGE_REQUEST_EVENT_TYPE="detached"))
    assert (context.head_sha, context.merge_sha) == (HEAD, None)
    no_source_sha = gitlab_context(gitlab_mr(CI_COMMIT_SHA=HEAD, CI_MERGE_REQUEST_SOURCE_BRANCH_SHA=""))
    assert no_source_sha.head_sha == HEAD


@pytest.mark.parametrize(
    "ids",
    [
        {"CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "77", "CI_PROJECT_ID": "77"},  # the fork's own pipeline
        {"CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "77", "CI_PROJECT_ID": "42"},  # run in the parent project
    ],
)
def test_fork_merge_requests_are_marked(ids: dict[str, str]) -> None:
    context = gitlab_context(gitlab_mr(**ids))
    assert context.is_fork
    assert context.repository == "group/sub/proj"  # the MR's project, where the notes are


def test_bitbucket_pull_request_pipeline() -> None:
    assert detect_provider(bitbucket_pr()) == "bitbucket"
    context = bitbucket_context(bitbucket_pr())
    assert (context.provider, context.event, context.head_sha) == ("bitbucket", "pull_request", HEAD)
    assert (context.branch, context.base_branch, context.pr_number) == ("feature", "main", 12)
    assert context.repository == "acme/ml-repo"
    assert context.build_url == "https://bitbucket.org/acme/ml-repo/pipelines/results/31"


def test_bitbucket_branch_pipeline_and_a_pr_without_its_destination() -> None:
    push = bitbucket_context(bitbucket_pr(BITBUCKET_PR_ID="", BITBUCKET_PR_DESTINATION_BRANCH=""))
    assert (push.event, push.pr_number, push.branch) == ("push", None, "feature")
    with pytest.raises(ContextError, match="BITBUCKET_PR_DESTINATION_BRANCH"):
        bitbucket_context(bitbucket_pr(BITBUCKET_PR_DESTINATION_BRANCH=""))


def test_bitbucket_context_through_detection_keeps_the_head(tmp_path: Path) -> None:
    context = detect_context(bitbucket_pr(), tmp_path, merge_base=False)
    assert context.head_sha == HEAD and context.pr_number == 12


@pytest.mark.parametrize(
    ("provider", "flag", "repo_url", "expected"),
    [
        ("gitlab", None, None, "gitlab"),
        ("bitbucket", None, None, "bitbucket"),
        ("github-actions", None, None, "github"),
        ("jenkins", None, "https://gitlab.example.com/group/sub/proj", "gitlab"),
        ("jenkins", None, "https://bitbucket.org/acme/ml-repo", "bitbucket"),
        ("jenkins", None, "https://github.com/o/r", "github"),
        ("gitlab", "none", None, "none"),
        ("gitlab", "github", None, "github"),  # GitLab CI on a GitHub repository
    ],
)
def test_the_forge_follows_the_ci_unless_told(
    provider: str, flag: str | None, repo_url: str | None, expected: str
) -> None:
    assert choose_forge({}, provider, flag=flag, repo_url=repo_url) == expected


def test_ci_track_forge_variable_and_its_bad_value() -> None:
    assert choose_forge({"CI_TRACK_FORGE": "Bitbucket"}, "gitlab") == "bitbucket"
    assert choose_forge({"CI_TRACK_FORGE": "bitbucket"}, "gitlab", flag="gitlab") == "gitlab"
    with pytest.raises(UsageError, match="CI_TRACK_FORGE must be one of"):
        choose_forge({"CI_TRACK_FORGE": "gitea"}, "gitlab")


def test_gitlab_settings_from_a_merge_request_pipeline() -> None:
    env = gitlab_mr(CI_TRACK_GITLAB_TOKEN="glpat-x" * 3, CI_API_V4_URL="", CI_SERVER_URL="https://git.corp:8443")
    settings = GitLabSettings.from_env(env, project="group/sub/proj", head_sha=HEAD)
    assert settings.api_url == "https://git.corp:8443/api/v4"  # self-managed, from CI_SERVER_URL
    assert settings.project == "42"  # the MR's project id
    assert settings.pipeline_id is None  # a merged-results pipeline runs on the merge commit
    assert GitLabSettings.from_env({**env, "CI_COMMIT_SHA": HEAD}, head_sha=HEAD).pipeline_id == 1234
    assert "glpat" not in repr(settings)


def test_gitlab_without_a_token_that_can_write_says_so() -> None:
    with pytest.raises(MissingForgeToken, match="CI_JOB_TOKEN cannot"):
        GitLabSettings.from_env(gitlab_mr(CI_JOB_TOKEN="job-token-value"), project="group/sub/proj")
    with pytest.raises(MissingForgeToken, match="set CI_TRACK_GITLAB_TOKEN or GITLAB_TOKEN"):
        GitLabSettings.from_env(gitlab_mr(), project="group/sub/proj")
    assert has_forge_token({"GITLAB_TOKEN": "t"}, "gitlab")
    assert not has_forge_token({"CI_JOB_TOKEN": "t"}, "gitlab")


def test_gitlab_project_paths_and_bitbucket_repositories_are_checked() -> None:
    with pytest.raises(UsageError, match="numeric id or a path"):
        GitLabSettings(token="t", project="a b")
    assert GitLabSettings(token="t", project="g/s/p").project == "g/s/p"
    with pytest.raises(UsageError, match="workspace/repo_slug"):
        BitbucketSettings(token="t", repository="a/b/c")
    env = bitbucket_pr(CI_TRACK_BITBUCKET_TOKEN="ATCTT3x-token", CI_TRACK_BITBUCKET_API_URL="ftp://x")
    with pytest.raises(UsageError, match="CI_TRACK_BITBUCKET_API_URL must be an http"):
        BitbucketSettings.from_env(env)
    default = BitbucketSettings.from_env({**env, "CI_TRACK_BITBUCKET_API_URL": ""})
    assert (default.api_url, default.repository) == ("https://api.bitbucket.org/2.0", "acme/ml-repo")
    with pytest.raises(MissingForgeToken, match="CI_TRACK_BITBUCKET_TOKEN"):
        BitbucketSettings.from_env(bitbucket_pr())


def test_jenkins_on_gitlab_knows_the_nested_project_and_the_forge() -> None:
    from ci_track.ci.jenkins import jenkins_context

    env = {"GIT_URL": "https://gitlab.example.com/ml/models/churn.git", "CHANGE_ID": "5", "CHANGE_TARGET": "main"}
    context = jenkins_context({**env, "GIT_COMMIT": HEAD}, parents_of=lambda sha: [])
    assert (context.repository, context.pr_number) == ("ml/models/churn", 5)
    assert choose_forge({}, "jenkins", repo_url=context.repo_url) == "gitlab"
