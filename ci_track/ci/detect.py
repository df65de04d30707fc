"""Where this build came from: one provider-independent `CIContext`, built from the environment.

Detection order: GitHub Actions (GITHUB_ACTIONS=true), GitLab CI (GITLAB_CI=true), Jenkins
(JENKINS_URL, or BUILD_URL with JENKINS_HOME), otherwise the local git repository.
`detect_context(environ, cwd)` is the only entry point; it never reaches the network. It reads
the GitHub event payload file and asks the local repository (through `ci_track.ci.git`) the few
things the environment does not say; the per-provider functions below are pure.

The commit a run is recorded for is always the one the author wrote:
- GitHub pull requests: `pull_request.head.sha` from the event payload. GITHUB_SHA is the
  synthetic merge commit of refs/pull/N/merge and is kept as `merge_sha` (on pull_request_target
  GITHUB_SHA is the base branch tip, not a merge commit, so `merge_sha` stays None).
- GitLab merged-results pipelines: CI_MERGE_REQUEST_SOURCE_BRANCH_SHA (CI_COMMIT_SHA is the
  merge commit there); when it is empty, CI_COMMIT_SHA is the head.
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
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci_track.errors import TOO_DEEP, ContextError
from ci_track.secrets import strip_url_credentials

if TYPE_CHECKING:
    from git import Repo


@dataclasses.dataclass(frozen=True, kw_only=True)
class CIContext:
    provider: str  # "github-actions" | "gitlab" | "jenkins" | "local"
    event: str  # "pull_request" | "push" | "schedule" | "workflow_dispatch" | "merge_group" | "manual" ...
    head_sha: str | None  # the commit the author wrote (PR head), never a synthetic merge commit
    merge_sha: str | None = None  # the synthetic merge commit the CI checked out, when there is one
    branch: str | None = None  # head branch (PR source branch on PRs), None on a detached tag build
    base_branch: str | None = None  # PR target branch; on pushes the repository's default branch if known
    base_sha: str | None = None  # merge-base of head and base branch (or the provider's best equivalent)
    pr_number: int | None = None
    pr_title: str | None = None  # untrusted: never put it in a shell or unescaped markdown
    is_fork: bool = False  # PR from another repository (read-only token on GitHub)
    repository: str | None = None  # "owner/name" on GitHub/GitLab, when known
    repo_url: str | None = None  # browsable URL, credentials stripped
    server_url: str | None = None  # e.g. https://github.com
    api_url: str | None = None  # e.g. https://api.github.com (GitHub Enterprise differs)
    build_url: str | None = None
    build_id: str | None = None
    run_attempt: str | None = None
    default_branch: str | None = None
    actor: str | None = None
    dirty: bool | None = None  # local only: uncommitted changes in the work tree

    @property
    def is_pull_request(self) -> bool:
        return self.pr_number is not None


GITHUB_PR_EVENTS = frozenset(
    {"pull_request", "pull_request_target", "pull_request_review", "pull_request_review_comment"}
)
_FULL_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_ZERO_SHA = re.compile(r"^0+$")
_DIGITS = re.compile(r"^[0-9]{1,18}$")
_GITHUB_PR_URL = re.compile(r"^(?P<repo>https?://[^/]+/[^/]+/[^/]+)/pull/\d+/?$")


def detect_context(environ: Mapping[str, str], cwd: Path) -> CIContext:
    """The context of this build; raises ContextError when the CI environment is inconsistent."""
    provider = detect_provider(environ)
    repo = _LazyRepo(cwd)
    try:
        if provider == "github-actions":
            context = github_context(environ, read_github_event(environ))
        elif provider == "gitlab":
            context = gitlab_context(environ)
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
        if context.base_branch and context.head_sha and (context.base_sha is None or _base_is_branch_tip(context)):
            merge_base = repo.merge_base_with(context.head_sha, context.base_branch)
            if merge_base:
                context = dataclasses.replace(context, base_sha=merge_base)
    finally:
        repo.close()
    return _stripped(context)


def _base_is_branch_tip(context: CIContext) -> bool:
    return context.provider == "github-actions" and context.event.startswith("pull_request")


def detect_provider(environ: Mapping[str, str]) -> str:
    if environ.get("GITHUB_ACTIONS", "").lower() == "true":
        return "github-actions"
    if environ.get("GITLAB_CI", "").lower() == "true":
        return "gitlab"
    if environ.get("JENKINS_URL") or (environ.get("BUILD_URL") and environ.get("JENKINS_HOME")):
        return "jenkins"
    return "local"


# --- GitHub Actions -------------------------------------------------------------------------


def read_github_event(environ: Mapping[str, str]) -> dict[str, Any]:
    """The webhook payload at GITHUB_EVENT_PATH.

    Pull request events cannot be tracked without it (the head SHA is only there), so for them
    a missing or unreadable file is a ContextError; other events fall back to the variables.
    """
    event = environ.get("GITHUB_EVENT_NAME", "")
    required = event in GITHUB_PR_EVENTS
    path = environ.get("GITHUB_EVENT_PATH", "")
    if not path:
        if required:
            raise ContextError(f"GITHUB_EVENT_PATH is not set on a {event} event: the PR head commit is in that file")
        return {}
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        if required:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
            reason = TOO_DEEP if isinstance(error, RecursionError) else reason
            raise ContextError(f"cannot read the {event} payload at GITHUB_EVENT_PATH={path}: {reason}") from None
        return {}
    if not isinstance(payload, dict):
        if required:
            raise ContextError(f"the payload at GITHUB_EVENT_PATH={path} is not a JSON object")
        return {}
    if required and not isinstance(payload.get("pull_request"), dict):
        raise ContextError(f"the {event} payload at GITHUB_EVENT_PATH={path} has no pull_request object")
    return payload


def github_context(environ: Mapping[str, str], payload: Mapping[str, Any]) -> CIContext:
    event = environ.get("GITHUB_EVENT_NAME") or "push"
    repository = _clean(environ.get("GITHUB_REPOSITORY"))
    server_url = (_clean(environ.get("GITHUB_SERVER_URL")) or "https://github.com").rstrip("/")
    api_url = (_clean(environ.get("GITHUB_API_URL")) or "https://api.github.com").rstrip("/")
    run_id = _clean(environ.get("GITHUB_RUN_ID"))
    attempt = _clean(environ.get("GITHUB_RUN_ATTEMPT"))
    build_url = None
    if repository and run_id:
        build_url = f"{server_url}/{repository}/actions/runs/{run_id}/attempts/{attempt or '1'}"
    default_branch = _clean(_dig(payload, "repository", "default_branch"))
    github_sha = _clean(environ.get("GITHUB_SHA"))
    common: dict[str, Any] = {
        "provider": "github-actions",
        "event": event,
        "repository": repository,
        "repo_url": f"{server_url}/{repository}" if repository else None,
        "server_url": server_url,
        "api_url": api_url,
        "build_url": build_url,
        "build_id": run_id,
        "run_attempt": attempt,
        "default_branch": default_branch,
        "actor": _clean(environ.get("GITHUB_ACTOR")) or _clean(_dig(payload, "sender", "login")),
    }

    if event in GITHUB_PR_EVENTS:
        pr = payload["pull_request"]  # read_github_event guarantees it
        head_sha = _clean(_dig(pr, "head", "sha"))
        if not head_sha:
            raise ContextError(f"the {event} payload at GITHUB_EVENT_PATH has no pull_request.head.sha")
        number = pr.get("number", payload.get("number"))
        head_repo = _dig(pr, "head", "repo", "full_name")
        base_repo = _dig(pr, "base", "repo", "full_name")
        # A deleted fork shows head.repo as null: still not this repository.
        is_fork = head_repo != base_repo if base_repo else False
        # pull_request_target runs on the base branch tip: GITHUB_SHA is not a merge commit there.
        merge_sha = github_sha if event != "pull_request_target" and github_sha != head_sha else None
        return CIContext(
            **common,
            head_sha=head_sha,
            merge_sha=merge_sha,
            branch=_clean(_dig(pr, "head", "ref")) or _clean(environ.get("GITHUB_HEAD_REF")),
            base_branch=_clean(_dig(pr, "base", "ref")) or _clean(environ.get("GITHUB_BASE_REF")),
            base_sha=_clean(_dig(pr, "base", "sha")),
            pr_number=_pr_number(number, "pull_request.number in GITHUB_EVENT_PATH"),
            pr_title=pr.get("title") if isinstance(pr.get("title"), str) else None,
            is_fork=is_fork,
        )

    if event == "merge_group":
        group = payload.get("merge_group")
        if not isinstance(group, Mapping):
            group = {}
        head_ref = _clean(group.get("head_ref")) or _clean(environ.get("GITHUB_REF"))
        return CIContext(
            **common,
            head_sha=_clean(group.get("head_sha")) or github_sha,
            branch=_branch_from_ref(head_ref),
            base_branch=_branch_from_ref(_clean(group.get("base_ref"))) or default_branch,
            base_sha=_clean(group.get("base_sha")),
        )

    if event == "push":
        after = _clean(payload.get("after"))
        head_sha = after if after and not _ZERO_SHA.match(after) else github_sha
        ref = _clean(payload.get("ref")) or _clean(environ.get("GITHUB_REF"))
        return CIContext(**common, head_sha=head_sha, branch=_branch_from_ref(ref), base_branch=default_branch)

    # workflow_dispatch, schedule, release, ...: the workflow runs on GITHUB_SHA at GITHUB_REF.
    ref = _clean(environ.get("GITHUB_REF")) or _clean(payload.get("ref"))
    return CIContext(**common, head_sha=github_sha, branch=_branch_from_ref(ref), base_branch=default_branch)


# --- GitLab CI ------------------------------------------------------------------------------


def gitlab_context(environ: Mapping[str, str]) -> CIContext:
    source = _clean(environ.get("CI_PIPELINE_SOURCE")) or "push"
    commit_sha = _clean(environ.get("CI_COMMIT_SHA"))
    default_branch = _clean(environ.get("CI_DEFAULT_BRANCH"))
    common: dict[str, Any] = {
        "provider": "gitlab",
        "server_url": _url(environ.get("CI_SERVER_URL")),
        "api_url": _url(environ.get("CI_API_V4_URL")),
        "build_url": _clean(environ.get("CI_JOB_URL")),
        "build_id": _clean(environ.get("CI_PIPELINE_ID")),
        "default_branch": default_branch,
        "actor": _clean(environ.get("GITLAB_USER_LOGIN")),
    }
    iid = _clean(environ.get("CI_MERGE_REQUEST_IID"))
    if source == "merge_request_event" or iid:
        if not iid:
            raise ContextError("CI_PIPELINE_SOURCE is merge_request_event but CI_MERGE_REQUEST_IID is not set")
        target = _clean(environ.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME"))
        if not target:
            raise ContextError(
                "GitLab merge request pipeline without CI_MERGE_REQUEST_TARGET_BRANCH_NAME: "
                "run the job in a merge request pipeline (rules: if: $CI_PIPELINE_SOURCE == 'merge_request_event')"
            )
        source_sha = _clean(environ.get("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA"))
        source_project = _clean(environ.get("CI_MERGE_REQUEST_SOURCE_PROJECT_ID"))
        target_project = _clean(environ.get("CI_MERGE_REQUEST_PROJECT_ID"))
        return CIContext(
            **common,
            event="pull_request",
            # Merged-results pipelines run on a merge commit (CI_COMMIT_SHA); the head is the source SHA.
            head_sha=source_sha or commit_sha,
            merge_sha=commit_sha if source_sha and commit_sha != source_sha else None,
            branch=_clean(environ.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")),
            base_branch=target,
            base_sha=_clean(environ.get("CI_MERGE_REQUEST_DIFF_BASE_SHA")),
            pr_number=_pr_number(iid, "CI_MERGE_REQUEST_IID"),
            pr_title=environ.get("CI_MERGE_REQUEST_TITLE") or None,
            is_fork=bool(source_project and target_project and source_project != target_project),
            repository=_clean(environ.get("CI_MERGE_REQUEST_PROJECT_PATH")) or _clean(environ.get("CI_PROJECT_PATH")),
            repo_url=_url(environ.get("CI_MERGE_REQUEST_PROJECT_URL")) or _url(environ.get("CI_PROJECT_URL")),
        )
    return CIContext(
        **common,
        event=source,
        head_sha=commit_sha,
        branch=_clean(environ.get("CI_COMMIT_BRANCH")),  # unset on tag pipelines
        base_branch=default_branch,
        repository=_clean(environ.get("CI_PROJECT_PATH")),
        repo_url=_url(environ.get("CI_PROJECT_URL")),
    )


# --- Jenkins --------------------------------------------------------------------------------


def jenkins_context(environ: Mapping[str, str], *, parents_of: Callable[[str], list[str]]) -> CIContext:
    """Plain and multibranch jobs; `parents_of(sha)` asks the local clone (empty when unknown)."""
    git_commit = _clean(environ.get("GIT_COMMIT"))
    git_url = _clean(environ.get("GIT_URL"))
    change_url = _clean(environ.get("CHANGE_URL"))
    repo_url = None
    if git_url:
        from ci_track.ci.git import normalize_remote_url

        repo_url = normalize_remote_url(git_url)
    elif change_url and (match := _GITHUB_PR_URL.match(change_url)):
        repo_url = match.group("repo")
    repository = _jenkins_repository(repo_url, change_url)
    # Enterprise API URLs are only guessed when CHANGE_URL shows a GitHub pull request (GitLab
    # URLs also have owner/name paths, and /api/v3 would be wrong there).
    github_pr = bool(change_url and _GITHUB_PR_URL.match(change_url))
    server_url, api_url = _github_urls_for(repo_url, enterprise=github_pr) if repository else (None, None)
    common: dict[str, Any] = {
        "provider": "jenkins",
        "repository": repository,
        "repo_url": repo_url,
        "server_url": server_url,
        "api_url": api_url,
        "build_url": _clean(environ.get("BUILD_URL")),
        "build_id": _clean(environ.get("BUILD_NUMBER")),
    }
    change_id = _clean(environ.get("CHANGE_ID"))
    if change_id:
        target = _clean(environ.get("CHANGE_TARGET"))
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
            branch=_clean(environ.get("CHANGE_BRANCH")),
            base_branch=target,
            pr_number=_pr_number(change_id, "CHANGE_ID"),
            pr_title=environ.get("CHANGE_TITLE") or None,
            is_fork=bool(_clean(environ.get("CHANGE_FORK"))),
            actor=_clean(environ.get("CHANGE_AUTHOR")),
        )
    branch = _jenkins_branch(environ.get("GIT_BRANCH")) or _clean(environ.get("BRANCH_NAME"))
    if _clean(environ.get("TAG_NAME")):
        branch = None  # multibranch tag builds set BRANCH_NAME to the tag name
    return CIContext(
        **common,
        event="push",
        head_sha=git_commit,
        branch=branch,
        actor=_clean(environ.get("BUILD_USER_ID")),
    )


def _jenkins_branch(git_branch: str | None) -> str | None:
    value = _clean(git_branch)
    if not value:
        return None
    for prefix in ("refs/remotes/origin/", "remotes/origin/", "origin/", "refs/heads/"):
        if value.startswith(prefix):
            return value[len(prefix) :] or None
    return value


def _jenkins_repository(repo_url: str | None, change_url: str | None) -> str | None:
    from ci_track.ci.git import repository_slug

    slug = repository_slug(repo_url)
    if slug:
        return slug
    if change_url and (match := _GITHUB_PR_URL.match(change_url)):
        return repository_slug(match.group("repo"))
    return None


def _github_urls_for(repo_url: str | None, *, enterprise: bool) -> tuple[str | None, str | None]:
    """Server and API URL of a repository URL: api.github.com for github.com, Enterprise's /api/v3 if asked."""
    from ci_track.ci.git import server_of

    server = server_of(repo_url)
    if not server:
        return None, None
    if server in ("https://github.com", "http://github.com"):
        return "https://github.com", "https://api.github.com"
    return server, f"{server}/api/v3" if enterprise else None


# --- Local ----------------------------------------------------------------------------------


def local_context(repo: Repo | None) -> CIContext:
    """A developer's machine: everything comes from the repository containing the work dir."""
    if repo is None:
        return CIContext(provider="local", event="manual", head_sha=None)
    from ci_track.ci import git as git_repo

    origin = git_repo.origin_url(repo)
    default_branch = git_repo.default_branch(repo)
    repository = git_repo.repository_slug(origin)
    server_url, api_url = _github_urls_for(origin, enterprise=False) if repository else (None, None)
    return CIContext(
        provider="local",
        event="manual",
        head_sha=git_repo.head_sha(repo),
        branch=git_repo.branch(repo),
        base_branch=default_branch,
        repository=repository,
        repo_url=origin,
        server_url=server_url,
        api_url=api_url,
        default_branch=default_branch,
        dirty=git_repo.is_dirty(repo),
    )


# --- Shared ---------------------------------------------------------------------------------


def apply_overrides(context: CIContext, environ: Mapping[str, str]) -> CIContext:
    """CI_TRACK_HEAD_SHA / _BRANCH / _BASE_BRANCH / _PR_NUMBER win over detection."""
    changes: dict[str, Any] = {}
    head = _clean(environ.get("CI_TRACK_HEAD_SHA"))
    if head:
        if not _FULL_SHA.match(head.lower()):
            raise ContextError(f"CI_TRACK_HEAD_SHA must be a full 40-character commit SHA, got {head!r}")
        changes["head_sha"] = head.lower()
    branch = _clean(environ.get("CI_TRACK_BRANCH"))
    if branch:
        changes["branch"] = branch
    base_branch = _clean(environ.get("CI_TRACK_BASE_BRANCH"))
    if base_branch:
        changes["base_branch"] = base_branch
    pr_number = _clean(environ.get("CI_TRACK_PR_NUMBER"))
    if pr_number:
        changes["pr_number"] = _pr_number(pr_number, "CI_TRACK_PR_NUMBER")
    # A provider's base_sha belongs to the detected head/base pair; recompute it for a new pair.
    if changes.get("head_sha", context.head_sha) != context.head_sha or (
        changes.get("base_branch", context.base_branch) != context.base_branch
    ):
        changes["base_sha"] = None
    return dataclasses.replace(context, **changes) if changes else context


def _with_local_head(context: CIContext, repo: _LazyRepo) -> CIContext:
    from ci_track.ci import git as git_repo

    opened = repo.get()
    return dataclasses.replace(context, head_sha=git_repo.head_sha(opened)) if opened else context


def _with_local_default_branch(context: CIContext, repo: _LazyRepo) -> CIContext:
    from ci_track.ci import git as git_repo

    opened = repo.get()
    if opened is None:
        return context
    default = git_repo.default_branch(opened)
    base = context.base_branch or (default if not context.is_pull_request else None)
    return dataclasses.replace(context, default_branch=default, base_branch=base)


def _stripped(context: CIContext) -> CIContext:
    """No URL leaves this module with user:token@ in it, whatever the provider put there."""
    fields = ("repo_url", "server_url", "api_url", "build_url")
    changes: dict[str, Any] = {f: strip_url_credentials(v) for f in fields if (v := getattr(context, f)) is not None}
    return dataclasses.replace(context, **changes)


class _LazyRepo:
    """Opens the local repository only when a question needs it (most CI runs never do)."""

    def __init__(self, cwd: Path) -> None:
        self._cwd = cwd
        self._opened = False
        self._repo: Repo | None = None

    def get(self) -> Repo | None:
        if not self._opened:
            from ci_track.ci.git import open_repo

            self._repo = open_repo(self._cwd)
            self._opened = True
        return self._repo

    def parents(self, sha: str) -> list[str]:
        from ci_track.ci.git import parents

        repo = self.get()
        return parents(repo, sha) if repo else []

    def merge_base_with(self, head_sha: str, base_branch: str) -> str | None:
        from ci_track.ci import git as git_repo

        repo = self.get()
        if repo is None:
            return None
        base_tip = git_repo.base_ref_commit(repo, base_branch)
        return git_repo.merge_base(repo, head_sha, base_tip) if base_tip else None

    def close(self) -> None:
        if self._repo is not None:
            self._repo.close()


def _clean(value: Any) -> str | None:
    """A stripped non-empty string, else None (CI systems set unused variables to "")."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _url(value: str | None) -> str | None:
    cleaned = _clean(value)
    return cleaned.rstrip("/") if cleaned else None


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _branch_from_ref(ref: str | None) -> str | None:
    """`refs/heads/x` -> `x`; tags and other refs have no branch."""
    if ref and ref.startswith("refs/heads/"):
        return ref[len("refs/heads/") :] or None
    return None


def _pr_number(value: Any, source: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    text = str(value).strip().lstrip("#") if value is not None else ""
    if not _DIGITS.match(text) or int(text) <= 0:
        raise ContextError(f"{source} must be a positive pull request number, got {value!r}")
    return int(text)
