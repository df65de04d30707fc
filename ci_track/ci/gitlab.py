"""GitLab CI: which pipeline this is, from its predefined variables (pure).

Merge request pipelines (CI_PIPELINE_SOURCE=merge_request_event), detached or merged results:
the head is CI_MERGE_REQUEST_SOURCE_BRANCH_SHA whenever GitLab sets it (in a merged-results
pipeline CI_COMMIT_SHA is the merge commit, kept as `merge_sha`), else CI_COMMIT_SHA (a detached
pipeline runs on the head itself). A fork's MR: its source project differs from the MR's project
(CI_MERGE_REQUEST_PROJECT_ID), or from the project running the pipeline (CI_PROJECT_ID: a fork's
pipeline runs in the fork); `repository` is the MR's (target) project, where its notes are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ci_track.ci.context import CIContext, clean, clean_url, parse_pr_number
from ci_track.errors import ContextError


def gitlab_context(environ: Mapping[str, str]) -> CIContext:
    source = clean(environ.get("CI_PIPELINE_SOURCE")) or "push"
    commit_sha = clean(environ.get("CI_COMMIT_SHA"))
    default_branch = clean(environ.get("CI_DEFAULT_BRANCH"))
    common: dict[str, Any] = {
        "provider": "gitlab",
        "build_url": clean(environ.get("CI_JOB_URL")),
        "build_id": clean(environ.get("CI_PIPELINE_ID")),
        "job_name": clean(environ.get("CI_JOB_NAME")),
        "default_branch": default_branch,
        "actor": clean(environ.get("GITLAB_USER_LOGIN")),
    }
    iid = clean(environ.get("CI_MERGE_REQUEST_IID"))
    if source == "merge_request_event" or iid:
        if not iid:
            raise ContextError("CI_PIPELINE_SOURCE is merge_request_event but CI_MERGE_REQUEST_IID is not set")
        target = clean(environ.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME"))
        if not target:
            raise ContextError(
                "GitLab merge request pipeline without CI_MERGE_REQUEST_TARGET_BRANCH_NAME: "
                "run the job in a merge request pipeline (rules: if: $CI_PIPELINE_SOURCE == 'merge_request_event')"
            )
        source_sha = clean(environ.get("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA"))
        source_project = clean(environ.get("CI_MERGE_REQUEST_SOURCE_PROJECT_ID"))
        target_project = clean(environ.get("CI_MERGE_REQUEST_PROJECT_ID"))
        running_project = clean(environ.get("CI_PROJECT_ID"))
        is_fork = bool(source_project) and any(
            other and other != source_project for other in (target_project, running_project)
        )
        return CIContext(
            **common,
            event="pull_request",
            # Merged-results pipelines run on a merge commit (CI_COMMIT_SHA); the head is the source SHA.
            head_sha=source_sha or commit_sha,
            merge_sha=commit_sha if source_sha and commit_sha != source_sha else None,
            branch=clean(environ.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")),
            base_branch=target,
            base_sha=clean(environ.get("CI_MERGE_REQUEST_DIFF_BASE_SHA")),
            pr_number=parse_pr_number(iid, "CI_MERGE_REQUEST_IID"),
            pr_title=environ.get("CI_MERGE_REQUEST_TITLE") or None,
            is_fork=is_fork,
            repository=clean(environ.get("CI_MERGE_REQUEST_PROJECT_PATH")) or clean(environ.get("CI_PROJECT_PATH")),
            repo_url=clean_url(environ.get("CI_MERGE_REQUEST_PROJECT_URL")) or clean_url(environ.get("CI_PROJECT_URL")),
        )
    return CIContext(
        **common,
        event=source,
        head_sha=commit_sha,
        branch=clean(environ.get("CI_COMMIT_BRANCH")),  # unset on tag pipelines
        base_branch=default_branch,
        repository=clean(environ.get("CI_PROJECT_PATH")),
        repo_url=clean_url(environ.get("CI_PROJECT_URL")),
    )
