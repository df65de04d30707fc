"""Bitbucket Pipelines: which build this is, from its default variables (pure).

Bitbucket sets BITBUCKET_COMMIT (the commit built: on a pull-request pipeline the PR's source
commit, which the clone merges with the destination), BITBUCKET_BRANCH (unset on tag pipelines),
BITBUCKET_PR_ID and BITBUCKET_PR_DESTINATION_BRANCH on pull-request pipelines,
BITBUCKET_REPO_FULL_NAME (`workspace/repo_slug`), BITBUCKET_BUILD_NUMBER, BITBUCKET_PIPELINE_UUID
and BITBUCKET_GIT_HTTP_ORIGIN (the repository's web address, `http://bitbucket.org/workspace/repo`).
There is no build URL variable: it is `<origin>/pipelines/results/<build number>`. Pipelines do
not run a fork's pull request with the target's secured variables, so no fork flag is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ci_track.ci.context import CIContext, clean, clean_url, parse_pr_number
from ci_track.errors import ContextError


def bitbucket_context(environ: Mapping[str, str]) -> CIContext:
    repository = clean(environ.get("BITBUCKET_REPO_FULL_NAME"))
    origin = _web_origin(environ, repository)
    build_number = clean(environ.get("BITBUCKET_BUILD_NUMBER"))
    common: dict[str, Any] = {
        "provider": "bitbucket",
        "head_sha": clean(environ.get("BITBUCKET_COMMIT")),
        "repository": repository,
        "repo_url": origin,
        "build_url": f"{origin}/pipelines/results/{build_number}" if origin and build_number else None,
        "build_id": build_number,
        "actor": clean(environ.get("BITBUCKET_STEP_TRIGGERER_UUID")),
    }
    pr_id = clean(environ.get("BITBUCKET_PR_ID"))
    if pr_id:
        target = clean(environ.get("BITBUCKET_PR_DESTINATION_BRANCH"))
        if not target:
            raise ContextError(
                "Bitbucket pull-request pipeline (BITBUCKET_PR_ID set) without BITBUCKET_PR_DESTINATION_BRANCH: "
                "run the step under `pipelines: pull-requests:`, or set CI_TRACK_BASE_BRANCH"
            )
        return CIContext(
            **common,
            event="pull_request",
            branch=clean(environ.get("BITBUCKET_BRANCH")),
            base_branch=target,
            pr_number=parse_pr_number(pr_id, "BITBUCKET_PR_ID"),
        )
    return CIContext(
        **common,
        event="push" if clean(environ.get("BITBUCKET_BRANCH")) or clean(environ.get("BITBUCKET_TAG")) else "manual",
        branch=clean(environ.get("BITBUCKET_BRANCH")),  # unset on tag and custom pipelines of a commit
    )


def _web_origin(environ: Mapping[str, str], repository: str | None) -> str | None:
    origin = clean_url(environ.get("BITBUCKET_GIT_HTTP_ORIGIN"))
    if origin:
        # Bitbucket gives http://; the web UI answers on https
        return "https://" + origin.split("://", 1)[1] if origin.startswith("http://") else origin
    return f"https://bitbucket.org/{repository}" if repository else None
