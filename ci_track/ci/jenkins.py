"""Jenkins: which build this is, from the variables of the git plugin and the multibranch branch sources (pure;
the parents of a merge commit are asked through `parents_of`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ci_track.ci.context import CIContext, clean, parse_pr_number
from ci_track.errors import ContextError

_GITHUB_PR_URL = re.compile(r"^(?P<repo>https?://[^/]+/[^/]+/[^/]+)/pull/\d+/?$")
_NESTED_PATH = re.compile(r"^https?://[^/]+/(?P<path>[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+){2,})$")


def jenkins_context(environ: Mapping[str, str], *, parents_of: Callable[[str], list[str]]) -> CIContext:
    """Plain and multibranch jobs; `parents_of(sha)` asks the local clone (empty when unknown)."""
    git_commit = clean(environ.get("GIT_COMMIT"))
    git_url = clean(environ.get("GIT_URL"))
    change_url = clean(environ.get("CHANGE_URL"))
    repo_url = None
    if git_url:
        from ci_track.ci.git import normalize_remote_url

        repo_url = normalize_remote_url(git_url)
    elif change_url and (match := _GITHUB_PR_URL.match(change_url)):
        repo_url = match.group("repo")
    repository = _jenkins_repository(repo_url, change_url)
    common: dict[str, Any] = {
        "provider": "jenkins",
        "repository": repository,
        "repo_url": repo_url,
        "build_url": clean(environ.get("BUILD_URL")),
        "build_id": clean(environ.get("BUILD_NUMBER")),
    }
    change_id = clean(environ.get("CHANGE_ID"))
    if change_id:
        target = clean(environ.get("CHANGE_TARGET"))
        if not target:
            job = environ.get("JOB_NAME", "this job")
            raise ContextError(
                f"Jenkins PR build (CHANGE_ID={change_id}) of {job} has no CHANGE_TARGET: "
                "set CI_TRACK_BASE_BRANCH to the target branch"
            )
        head_sha, merge_sha = git_commit, None
        if git_commit:
            commit_parents = parents_of(git_commit)
            if len(commit_parents) == 2:  # merge of the PR (second parent) into the target (first)
                head_sha, merge_sha = commit_parents[1], git_commit
        return CIContext(
            **common,
            event="pull_request",
            head_sha=head_sha,
            merge_sha=merge_sha,
            branch=clean(environ.get("CHANGE_BRANCH")),
            base_branch=target,
            pr_number=parse_pr_number(change_id, "CHANGE_ID"),
            pr_title=environ.get("CHANGE_TITLE") or None,
            is_fork=bool(clean(environ.get("CHANGE_FORK"))),
            actor=clean(environ.get("CHANGE_AUTHOR")),
        )
    branch = _jenkins_branch(environ.get("GIT_BRANCH")) or clean(environ.get("BRANCH_NAME"))
    if clean(environ.get("TAG_NAME")):
        branch = None  # multibranch tag builds set BRANCH_NAME to the tag name
    return CIContext(
        **common,
        event="push",
        head_sha=git_commit,
        branch=branch,
        actor=clean(environ.get("BUILD_USER_ID")),
    )


def _jenkins_branch(git_branch: str | None) -> str | None:
    value = clean(git_branch)
    if not value:
        return None
    for prefix in ("refs/remotes/origin/", "remotes/origin/", "origin/", "refs/heads/"):
        if value.startswith(prefix):
            return value[len(prefix) :] or None
    return value


def _jenkins_repository(repo_url: str | None, change_url: str | None) -> str | None:
    """owner/name (GitHub, Bitbucket), or a GitLab project's nested path (group/sub/proj) from the clone URL."""
    from ci_track.ci.git import repository_slug

    slug = repository_slug(repo_url)
    if slug:
        return slug
    if change_url and (match := _GITHUB_PR_URL.match(change_url)):
        return repository_slug(match.group("repo"))
    nested = _NESTED_PATH.match(repo_url or "")
    return nested.group("path") if nested else None
