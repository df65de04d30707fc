"""Where this build came from: one provider-independent `CIContext`, built from the environment.

Detection order: GitHub Actions (GITHUB_ACTIONS=true), GitLab CI (GITLAB_CI=true), Bitbucket
Pipelines (BITBUCKET_BUILD_NUMBER with BITBUCKET_COMMIT), Jenkins (JENKINS_URL, or BUILD_URL with
JENKINS_HOME), otherwise the local git repository.
`detect_context(environ, cwd)` is the only entry point; it never reaches the network. It reads
the GitHub event payload file and asks the local repository (through `ci_track.ci.git`) the few
things the environment does not say; the per-provider functions (ci/github_actions.py, gitlab.py,
bitbucket.py, jenkins.py, local.py) are pure.

The commit a run is recorded for is always the one the author wrote:
- GitHub pull requests: `pull_request.head.sha` from the event payload. GITHUB_SHA is the
  synthetic merge commit of refs/pull/N/merge and is kept as `merge_sha` (on pull_request_target
  GITHUB_SHA is the base branch tip, not a merge commit, so `merge_sha` stays None).
- GitLab merged-results pipelines: CI_MERGE_REQUEST_SOURCE_BRANCH_SHA (CI_COMMIT_SHA is the
  merge commit there); when it is empty (a detached MR pipeline), CI_COMMIT_SHA is the head.
- Bitbucket pull-request pipelines: BITBUCKET_COMMIT is the PR's source commit.
- Jenkins multibranch PR builds (CHANGE_ID set) often check out a merge of the PR into the
  target branch ("merge with the current target revision" strategy): GIT_COMMIT is then a
  commit with two parents, the target tip first and the PR head second. When the local
  repository shows GIT_COMMIT has two parents, the head is its second parent and GIT_COMMIT is
  kept as `merge_sha`. A shallow clone that lacks the parents leaves GIT_COMMIT as the head.
  CHANGE_FORK (set by the GitHub branch source for PRs from forks) marks `is_fork`; `repository`
  is derived from GIT_URL or CHANGE_URL when it has the GitHub shape https://host/owner/name.

Overrides for every provider: CI_TRACK_HEAD_SHA, CI_TRACK_BRANCH, CI_TRACK_BASE_BRANCH and
CI_TRACK_PR_NUMBER win over what was detected (an empty value counts as unset). Overriding the
head or the base branch drops a provider-given `base_sha`, which belonged to the old pair.

`base_sha`: when the provider gives none and the local repository has the base branch
(origin/<base> or <base>), it is `git merge-base head base`. A git failure (shallow clone,
unknown commit) leaves it None; git lookups never raise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci_track.ci.bitbucket import bitbucket_context
from ci_track.ci.context import FULL_SHA, CIContext, clean, parse_pr_number
from ci_track.ci.github_actions import github_context, read_github_event
from ci_track.ci.gitlab import gitlab_context
from ci_track.ci.jenkins import jenkins_context
from ci_track.ci.local import LazyRepo, local_context
from ci_track.errors import ContextError
from ci_track.secrets import strip_url_credentials

if TYPE_CHECKING:
    pass


def detect_context(environ: Mapping[str, str], cwd: Path, *, merge_base: bool = True) -> CIContext:
    """The context of this build; raises ContextError when the CI environment is inconsistent.

    `merge_base=False` (the gate) looks the merge-base up on pull requests only: outside them
    nothing the gate does reads `base_sha` (`run` records it), and a build whose CI names its
    commit then never opens the repository, nor runs git.
    """
    provider = detect_provider(environ)
    repo = LazyRepo(cwd, environ)
    if provider == "github-actions":
        context = github_context(environ, read_github_event(environ))
    elif provider == "gitlab":
        context = gitlab_context(environ)
    elif provider == "bitbucket":
        context = bitbucket_context(environ)
    elif provider == "jenkins":
        context = jenkins_context(environ, parents_of=repo.parents)
    else:
        context = local_context(repo.get())
    if context.head_sha is None and provider != "local":
        context = _with_local_head(context, repo)
    context = apply_overrides(context, environ)
    if context.default_branch is None and provider == "jenkins":
        context = _with_local_default_branch(context, repo)
    # GitHub's pull_request.base.sha is the base branch tip, not the merge-base: prefer the real
    # merge-base when the checkout has the history (fetch-depth: 0), keep the tip otherwise.
    wanted = merge_base or context.is_pull_request
    if (
        wanted
        and context.base_branch
        and context.head_sha
        and (context.base_sha is None or _base_is_branch_tip(context))
    ):
        found = repo.merge_base_with(context.head_sha, context.base_branch)
        if found:
            context = dataclasses.replace(context, base_sha=found)
    return _stripped(context)


def _base_is_branch_tip(context: CIContext) -> bool:
    return context.provider == "github-actions" and context.event.startswith("pull_request")


def detect_provider(environ: Mapping[str, str]) -> str:
    if environ.get("GITHUB_ACTIONS", "").lower() == "true":
        return "github-actions"
    if environ.get("GITLAB_CI", "").lower() == "true":
        return "gitlab"
    if environ.get("BITBUCKET_BUILD_NUMBER") and environ.get("BITBUCKET_COMMIT"):
        return "bitbucket"
    if environ.get("JENKINS_URL") or (environ.get("BUILD_URL") and environ.get("JENKINS_HOME")):
        return "jenkins"
    return "local"


# --- GitLab CI ------------------------------------------------------------------------------


# --- Local ----------------------------------------------------------------------------------


# --- Shared ---------------------------------------------------------------------------------


def apply_overrides(context: CIContext, environ: Mapping[str, str]) -> CIContext:
    """CI_TRACK_HEAD_SHA / _BRANCH / _BASE_BRANCH / _PR_NUMBER win over detection."""
    changes: dict[str, Any] = {}
    head = clean(environ.get("CI_TRACK_HEAD_SHA"))
    if head:
        if not FULL_SHA.match(head.lower()):
            raise ContextError(f"CI_TRACK_HEAD_SHA must be a full 40-character commit SHA, got {head!r}")
        changes["head_sha"] = head.lower()
    branch = clean(environ.get("CI_TRACK_BRANCH"))
    if branch:
        changes["branch"] = branch
    base_branch = clean(environ.get("CI_TRACK_BASE_BRANCH"))
    if base_branch:
        changes["base_branch"] = base_branch
    pr_number = clean(environ.get("CI_TRACK_PR_NUMBER"))
    if pr_number:
        changes["pr_number"] = parse_pr_number(pr_number, "CI_TRACK_PR_NUMBER")
    # A provider's base_sha belongs to the detected head/base pair; recompute it for a new pair.
    if changes.get("head_sha", context.head_sha) != context.head_sha or (
        changes.get("base_branch", context.base_branch) != context.base_branch
    ):
        changes["base_sha"] = None
    return dataclasses.replace(context, **changes) if changes else context


def _with_local_head(context: CIContext, repo: LazyRepo) -> CIContext:
    from ci_track.ci import git as git_repo

    opened = repo.get()
    return dataclasses.replace(context, head_sha=git_repo.head_sha(opened)) if opened else context


def _with_local_default_branch(context: CIContext, repo: LazyRepo) -> CIContext:
    from ci_track.ci import git as git_repo

    opened = repo.get()
    if opened is None:
        return context
    default = git_repo.default_branch(opened)
    base = context.base_branch or (default if not context.is_pull_request else None)
    return dataclasses.replace(context, default_branch=default, base_branch=base)


def _stripped(context: CIContext) -> CIContext:
    """No URL leaves this module with user:token@ in it, whatever the provider put there."""
    fields = ("repo_url", "build_url")
    changes: dict[str, Any] = {f: strip_url_credentials(v) for f in fields if (v := getattr(context, f)) is not None}
    return dataclasses.replace(context, **changes)
