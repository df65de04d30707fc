"""The environments GitLab CI and Bitbucket Pipelines give a merge/pull request build, for the tests that run
`ci-track compare` against the fake GitLab and the fake Bitbucket (tests/fakes/)."""

from __future__ import annotations

from tests.cli_helpers import base_env
from tests.fakes import fake_bitbucket, fake_gitlab

GITLAB_PROJECT = "ml-team/models/churn"  # nested groups
BITBUCKET_REPO = "acme/churn"
MR_IID = 7
MERGE_SHA = "e" * 40  # the merged-results pipeline's commit


def gitlab_mr_env(
    gitlab_url: str, *, tracking_uri: str, head_sha: str, branch: str = "feature", title: str = "Tune it", **extra: str
) -> dict[str, str]:
    """A merged-results merge request pipeline of GITLAB_PROJECT!MR_IID, as GitLab sets its variables."""
    web = f"{gitlab_url}/{GITLAB_PROJECT}"
    env = base_env(
        MLFLOW_TRACKING_URI=tracking_uri,
        CI_TRACK_RULES_FROM="head",  # a plain directory, not a clone with the base commit
        GITLAB_CI="true",
        CI="true",
        CI_SERVER_URL=gitlab_url,
        CI_API_V4_URL=f"{gitlab_url}/api/v4",
        CI_PIPELINE_SOURCE="merge_request_event",
        CI_PIPELINE_ID="5150",
        CI_PIPELINE_URL=f"{web}/-/pipelines/5150",
        CI_JOB_URL=f"{web}/-/jobs/777",
        CI_COMMIT_SHA=MERGE_SHA,
        CI_DEFAULT_BRANCH="main",
        CI_PROJECT_ID="42",
        CI_PROJECT_PATH=GITLAB_PROJECT,
        CI_PROJECT_URL=web,
        CI_MERGE_REQUEST_IID=str(MR_IID),
        CI_MERGE_REQUEST_EVENT_TYPE="merged_result",
        CI_MERGE_REQUEST_PROJECT_ID="42",
        CI_MERGE_REQUEST_PROJECT_PATH=GITLAB_PROJECT,
        CI_MERGE_REQUEST_PROJECT_URL=web,
        CI_MERGE_REQUEST_SOURCE_PROJECT_ID="42",
        CI_MERGE_REQUEST_SOURCE_BRANCH_NAME=branch,
        CI_MERGE_REQUEST_SOURCE_BRANCH_SHA=head_sha,
        CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main",
        CI_MERGE_REQUEST_TITLE=title,
        CI_JOB_TOKEN=fake_gitlab.JOB_TOKEN,
        CI_TRACK_GITLAB_TOKEN=fake_gitlab.DEFAULT_TOKEN,
        CI_TRACK_GITHUB_TIMEOUT="120",  # a request held at a rendezvous must not time out and retry
    )
    return {**env, **extra}


def bitbucket_pr_env(
    bitbucket_url: str, *, tracking_uri: str, head_sha: str, branch: str = "feature", **extra: str
) -> dict[str, str]:
    """A pull-request pipeline of BITBUCKET_REPO#MR_IID, as Bitbucket Pipelines sets its variables."""
    env = base_env(
        MLFLOW_TRACKING_URI=tracking_uri,
        CI_TRACK_RULES_FROM="head",
        CI="true",
        BITBUCKET_BUILD_NUMBER="88",
        BITBUCKET_COMMIT=head_sha,
        BITBUCKET_BRANCH=branch,
        BITBUCKET_PR_ID=str(MR_IID),
        BITBUCKET_PR_DESTINATION_BRANCH="main",
        BITBUCKET_REPO_FULL_NAME=BITBUCKET_REPO,
        BITBUCKET_WORKSPACE=BITBUCKET_REPO.split("/")[0],
        BITBUCKET_REPO_SLUG=BITBUCKET_REPO.split("/")[1],
        BITBUCKET_GIT_HTTP_ORIGIN=f"http://bitbucket.org/{BITBUCKET_REPO}",
        CI_TRACK_BITBUCKET_TOKEN=fake_bitbucket.DEFAULT_TOKEN,
        CI_TRACK_BITBUCKET_API_URL=f"{bitbucket_url}/2.0",
        CI_TRACK_GITHUB_TIMEOUT="120",
    )
    return {**env, **extra}
