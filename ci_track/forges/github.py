"""GitHub as a forge: the sticky PR comment, the commit status and the check run (PyGithub).

`GitHubForge` implements `forges.interface.Forge` over one connected client (built by
commands/_publish.open_forge through forges/github_api.connect); the functions below take that
client as an argument. PyGithub is imported only by the caller's `connect`, so importing this
module (for its dataclasses) stays cheap.

GitHub's rules this module follows (see tests/contracts/README.md):
- the sticky comment follows forges/sticky.py's rules (the marker, the modes, race duplicates,
  the shared key, other keys' outdated reports) over `IssueThread`: GitHub lists a PR's comments
  oldest first, 100 a page at most, and after creating ours only the recent ones are re-read;
- a comment body is at most 65,536 characters; a longer report is cut and points to the full one;
- on fork PRs the token is read-only: 403 "Resource not accessible by integration" becomes a
  `forbidden` outcome that the caller reports as a warning, not a failure.
Retries and the translation of every other failure into `GitHubError` live in github_api.py.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from typing import TYPE_CHECKING, Any

from ci_track.errors import UsageError
from ci_track.forges import sticky
from ci_track.forges.github_api import IntegrationForbidden, github_call, is_not_found
from ci_track.forges.interface import CheckRunOutcome, CommentOutcome, StatusOutcome, check_commit_sha, status_name
from ci_track.report.text import comment_marker, cut, fit_to_limit
from ci_track.vocabulary import COMMENT_LIMIT as MAX_COMMENT_LENGTH

if TYPE_CHECKING:
    import github
    from github.IssueComment import IssueComment

log = logging.getLogger(__name__)

MAX_STATUS_DESCRIPTION = 140
MAX_CHECK_SUMMARY = 65535
STATUS_STATES = ("success", "failure", "error", "pending")
CHECK_CONCLUSIONS = ("success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required")


# --------------------------------------------------------------------------------------------
# the sticky comment (its rules: forges/sticky.py)
# --------------------------------------------------------------------------------------------


def fit_comment_body(body: str, marker: str, *, limit: int = MAX_COMMENT_LENGTH) -> tuple[str, bool]:
    """The body with the marker in it, cut to GitHub's `limit`: (body, was it cut?) (report.text.fit_to_limit)."""
    return fit_to_limit(body, marker, limit)


def post_sticky_comment(
    gh: github.Github,
    repository: str,
    pr_number: int,
    body: str,
    *,
    marker: str,
    mode: str = "update",
    passed: bool | None = None,
    comment_id: int | None = None,
) -> CommentOutcome:
    """Create, update or delete ci-track's one comment on a PR, found by its hidden `marker`.

    mode: `update` edits our comment in place (creates it when absent); `new` deletes ours and
    posts a fresh one; `delete-on-pass` deletes ours when `passed`, else behaves like update;
    `off` does nothing (forges/sticky.py). `comment_id` (only one this function returned for the
    same PR and marker: GitHub has no cheap way to check it first) turns an update into a single
    PATCH; a comment that is gone is looked for again by its marker.
    """
    if mode == "delete-on-pass" and passed is None:
        raise UsageError("comment mode delete-on-pass needs to know whether the gate passed")
    thread = IssueThread(gh, repository, pr_number)
    return sticky.post_sticky(
        thread,
        body,
        marker=marker,
        mode=mode,
        passed=bool(passed),
        limit=MAX_COMMENT_LENGTH,
        edit_known=None if comment_id is None else functools.partial(thread.edit_by_id, comment_id),
    )


class IssueThread:
    """The comments of one PR over PyGithub (forges.sticky.Thread); every call inside `github_call`.

    It keeps the PyGithub objects it listed or created, so that an edit or a delete is one request.
    """

    def __init__(self, gh: github.Github, repository: str, pr_number: int) -> None:
        self.gh = gh
        self.repository = repository
        self.pr_number = pr_number
        self.where = f"{repository}#{pr_number}"
        with github_call(f"find the ci-track comment on {self.where}"):
            self.issue = gh.get_repo(repository).get_issue(pr_number)  # lazy: no request
        self._known: dict[int, IssueComment] = {}
        self._scan_started: float | None = None
        self._created: IssueComment | None = None

    def list(self) -> list[sticky.Comment]:
        """Every comment of the PR, oldest first (every page); right after `create`, only the recent ones.

        Two jobs that both found no comment both create one, then re-list (forges/sticky.py). Any
        rival was created after our scan began (else the scan would have found it), so the re-list
        asks only for comments since then: GitHub's own clock (our comment's created_at) minus how
        long our scan took by ours, plus a minute of slack. That is one page, not all.
        """
        since = self._since_our_scan()
        self._scan_started, self._created = time.monotonic(), None
        with github_call(f"list the comments of {self.where}"):
            comments = self.issue.get_comments() if since is None else self.issue.get_comments(since=since)
            return [self._keep(comment) for comment in comments]

    def _since_our_scan(self) -> dt.datetime | None:
        created, started = self._created, self._scan_started
        if created is None or started is None or not isinstance(created.created_at, dt.datetime):
            return None
        return created.created_at - dt.timedelta(seconds=time.monotonic() - started + 60)

    def create(self, body: str) -> sticky.Comment:
        with github_call(f"create the ci-track comment on {self.where}"):
            self._created = self.issue.create_comment(body)
            return self._keep(self._created)

    def update(self, comment_id: int, body: str) -> sticky.Comment:
        with github_call(f"update the ci-track comment on {self.where}"):
            comment = self._known[comment_id]
            comment.edit(body)
            return self._keep(comment)

    def delete(self, comment_id: int) -> None:
        """Delete; a comment already deleted (by a concurrent poster) is fine."""
        from github import GithubException

        with github_call(f"delete a ci-track comment on {self.where}"):
            try:
                self._known[comment_id].delete()
            except GithubException as exc:
                if not is_not_found(exc):
                    raise

    def edit_by_id(self, comment_id: int, body: str) -> sticky.Comment | None:
        """PATCH a comment we know by id (one request); None when it is gone or not on this PR."""
        from github import GithubException

        with github_call(f"update the ci-track comment on {self.where}"):
            url = f"{self.gh.get_repo(self.repository).url}/issues/comments/{int(comment_id)}"
            try:
                _, data = self.gh.requester.requestJsonAndCheck("PATCH", url, input={"body": body})
            except GithubException as exc:
                if is_not_found(exc):
                    return None
                raise
        if not str(data.get("issue_url", "")).endswith(f"/issues/{self.pr_number}"):
            log.warning(
                "comment %s is not on PR #%s (a stale comment id?); looking for ours", comment_id, self.pr_number
            )
            return None
        return sticky.Comment(int(data["id"]), body, data.get("html_url"))

    def _keep(self, comment: IssueComment) -> sticky.Comment:
        self._known[comment.id] = comment
        return sticky.Comment(comment.id, comment.body or "", comment.html_url)


# --------------------------------------------------------------------------------------------
# commit status and check run
# --------------------------------------------------------------------------------------------


def pull_request_head_sha(gh: github.Github, repository: str, pr_number: int) -> str:
    """The PR's current head commit (pulls/get): what a report posted from an artifact must be for."""
    with github_call(f"read pull request {repository}#{pr_number}"):
        return str(gh.get_repo(repository).get_pull(pr_number).head.sha)


def set_commit_status(
    gh: github.Github,
    repository: str,
    sha: str,
    *,
    state: str,
    context: str,
    description: str = "",
    target_url: str | None = None,
) -> StatusOutcome:
    """Set a commit status on `sha` (the PR head, not the merge commit); description cut to 140."""
    if state not in STATUS_STATES:
        raise UsageError(f"commit status state must be one of {', '.join(STATUS_STATES)}, got {state!r}")
    check_commit_sha(sha)
    commit = gh.get_repo(repository).get_commit(sha)
    kwargs: dict[str, str] = {"context": context, "description": cut(description, MAX_STATUS_DESCRIPTION)}
    if target_url:
        kwargs["target_url"] = target_url
    try:
        with github_call(f"set the {context} status on {repository}@{sha[:12]}"):
            commit.create_status(state, **kwargs)
    except IntegrationForbidden as exc:
        log.warning("%s", exc)
        return StatusOutcome("forbidden", context, state, warning=str(exc))
    return StatusOutcome("created", context, state)


def create_check_run(
    gh: github.Github,
    repository: str,
    head_sha: str,
    *,
    name: str,
    conclusion: str,
    title: str,
    summary: str,
    details_url: str | None = None,
) -> CheckRunOutcome:
    """A completed check run carrying the markdown report (summary cut to 65,535 characters).

    Only GitHub App tokens (GITHUB_TOKEN included) may create check runs; a refusal is `forbidden`.
    """
    if conclusion not in CHECK_CONCLUSIONS:
        raise UsageError(f"check run conclusion must be one of {', '.join(CHECK_CONCLUSIONS)}, got {conclusion!r}")
    fitted, truncated = fit_comment_body(summary, "", limit=MAX_CHECK_SUMMARY)
    kwargs: dict[str, Any] = {
        "name": name,
        "head_sha": head_sha,
        "status": "completed",
        "conclusion": conclusion,
        "output": {"title": cut(title, 255), "summary": fitted},
    }
    if details_url:
        kwargs["details_url"] = details_url
    try:
        with github_call(f"create the {name} check run on {repository}@{head_sha[:12]}"):
            run = gh.get_repo(repository).create_check_run(**kwargs)
    except IntegrationForbidden as exc:
        log.warning("%s", exc)
        return CheckRunOutcome("forbidden", truncated=truncated, warning=str(exc))
    return CheckRunOutcome("created", run.id, run.html_url, truncated=truncated)


class GitHubForge:
    """`forges.interface.Forge` on GitHub: the operations above bound to one client and repository."""

    name = "GitHub"
    fork_advice = "the report is in the job summary; use the fork-safe workflow pair to comment"

    def __init__(self, gh: github.Github, repository: str) -> None:
        self.gh = gh
        self.repository = repository

    def pull_request_head(self, pr_number: int) -> str:
        return pull_request_head_sha(self.gh, self.repository, pr_number)

    def post_sticky_comment(self, pr_number: int, body: str, *, key: str, mode: str, passed: bool) -> CommentOutcome:
        return post_sticky_comment(
            self.gh, self.repository, pr_number, body, marker=comment_marker(key), mode=mode, passed=passed
        )

    def set_status(
        self, sha: str, *, key: str, passed: bool, description: str, target_url: str | None
    ) -> StatusOutcome:
        state = "success" if passed else "failure"
        return set_commit_status(
            self.gh,
            self.repository,
            sha,
            state=state,
            context=status_name(key),
            description=description,
            target_url=target_url,
        )

    def create_check(
        self, sha: str, *, key: str, passed: bool, title: str, summary: str, details_url: str | None
    ) -> CheckRunOutcome:
        return create_check_run(
            self.gh,
            self.repository,
            sha,
            name=status_name(key),
            conclusion="success" if passed else "failure",
            title=title,
            summary=summary,
            details_url=details_url,
        )

    def close(self) -> None:
        self.gh.close()
