"""GitHub as a forge: the sticky PR comment, the commit status and the check run (PyGithub).

`GitHubForge` implements `forges.interface.Forge` over one connected client (built by
commands/_publish.open_forge through forges/github_api.connect); the functions below take that
client as an argument. PyGithub is imported only by the caller's `connect`, so importing this
module (for its dataclasses) stays cheap.

GitHub's rules this module follows (see tests/contracts/README.md):
- the sticky comment is found by a hidden marker on every page of the PR's comments (GitHub lists
  them oldest first, 100 a page at most); duplicates left by concurrent posters are deleted, the
  lowest id is kept;
- a comment body is at most 65,536 characters; a longer report is cut and points to the full one;
- on fork PRs the token is read-only: 403 "Resource not accessible by integration" becomes a
  `forbidden` outcome that the caller reports as a warning, not a failure;
- the report's hidden metadata (report/metadata.py) decides two things while the comments are
  listed anyway: an existing comment of the same key for a different candidate run of the same
  build and commit is another job's (SharedKeyError, nothing overwritten), and the comments of
  other keys that describe an older head are marked outdated.
Retries and the translation of every other failure into `GitHubError` live in github_api.py.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from typing import TYPE_CHECKING, Any

from ci_track.errors import SharedKeyError, UsageError
from ci_track.forges.github_api import IntegrationForbidden, github_call, is_not_found
from ci_track.forges.interface import CheckRunOutcome, CommentOutcome, StatusOutcome
from ci_track.report.metadata import conflict_message, read_meta, shared_key_conflict, stale_body
from ci_track.report.text import comment_marker, cut, fit_to_limit
from ci_track.vocabulary import COMMENT_LIMIT as MAX_COMMENT_LENGTH
from ci_track.vocabulary import COMMENT_MODES

if TYPE_CHECKING:
    import github
    from github.IssueComment import IssueComment

log = logging.getLogger(__name__)

MAX_STATUS_DESCRIPTION = 140
MAX_CHECK_SUMMARY = 65535
STATUS_CONTEXT_PREFIX = "ci-track/"
STATUS_STATES = ("success", "failure", "error", "pending")
CHECK_CONCLUSIONS = ("success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required")


# --------------------------------------------------------------------------------------------
# settings and the client
# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
# the sticky comment
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
    `off` does nothing. `comment_id` (only one this function returned for the same PR and marker:
    GitHub has no cheap way to check it first) turns an update into a single PATCH; a comment that
    is gone is looked for again by its marker. Concurrent posters converge on one comment: the
    lowest id is kept, the others deleted.
    """
    if mode not in COMMENT_MODES:
        raise UsageError(f"comment mode must be one of {', '.join(COMMENT_MODES)}, got {mode!r}")
    if mode == "off":
        return CommentOutcome("skipped")
    if mode == "delete-on-pass" and passed is None:
        raise UsageError("comment mode delete-on-pass needs to know whether the gate passed")
    if not marker.strip():
        raise UsageError("the comment marker must not be empty")
    body, truncated = fit_comment_body(body, marker)
    where = f"{repository}#{pr_number}"
    try:
        with github_call(f"find the ci-track comment on {where}"):
            issue = gh.get_repo(repository).get_issue(pr_number)  # lazy: no request
        if mode == "delete-on-pass" and passed:
            with github_call(f"delete the ci-track comment on {where}"):
                ours = _our_comments(issue, marker)
                for comment in ours:
                    _delete_quietly(comment)
            log.info("deleted %d ci-track comment(s) on %s: the gate passed", len(ours), where)
            return CommentOutcome("deleted" if ours else "absent", deleted=len(ours))

        with github_call(f"update the ci-track comment on {where}"):
            if comment_id is not None and mode != "new":
                edited = _edit_by_id(gh, repository, pr_number, comment_id, body)
                if edited is not None:
                    return CommentOutcome("updated", edited[0], edited[1], truncated=truncated)
            scan_started = time.monotonic()
            listed = list(issue.get_comments())
            ours = sorted((c for c in listed if marker in (c.body or "")), key=lambda c: c.id)
            _refuse_shared_key(ours, body, marker)
            _mark_others_stale(listed, marker, body)
            replaced = 0
            if mode == "new":
                for comment in ours:
                    _delete_quietly(comment)
                replaced, ours = len(ours), []
            if ours:
                keep, *duplicates = ours
                changed = keep.body != body
                if changed:
                    keep.edit(body)
                for comment in duplicates:
                    _delete_quietly(comment)
                return CommentOutcome(
                    "updated" if changed else "unchanged",
                    keep.id,
                    keep.html_url,
                    deleted=len(duplicates),
                    truncated=truncated,
                )

        with github_call(f"create the ci-track comment on {where}"):
            created = issue.create_comment(body)
            kept, removed = _settle_race(issue, marker, created, body, time.monotonic() - scan_started)
        return CommentOutcome(
            "created" if kept.id == created.id else "updated",
            kept.id,
            kept.html_url,
            deleted=replaced + removed,
            truncated=truncated,
        )
    except IntegrationForbidden as exc:
        log.warning("%s", exc)
        return CommentOutcome("forbidden", warning=str(exc), truncated=truncated)


def _our_comments(issue: Any, marker: str, since: dt.datetime | None = None) -> list[IssueComment]:
    """Every comment of the PR carrying the marker, oldest first (reads every page).

    `since` limits the listing to comments created or edited at or after that time.
    """
    comments = issue.get_comments() if since is None else issue.get_comments(since=since)
    return sorted((c for c in comments if marker in (c.body or "")), key=lambda c: c.id)


def _refuse_shared_key(ours: list[IssueComment], body: str, marker: str) -> None:
    """SharedKeyError when one of our comments is another job's report under the same key (report/metadata.py)."""
    for comment in ours:
        if shared_key_conflict(comment.body, body):
            meta = read_meta(body)
            raise SharedKeyError(conflict_message(meta.key if meta else marker, comment.body))


def _mark_others_stale(listed: list[IssueComment], marker: str, body: str) -> None:
    """Mark the reports of other keys that describe an older head as outdated (edited, never deleted)."""
    meta = read_meta(body)
    if meta is None or not meta.head_sha:
        return
    for comment in listed:
        text = comment.body or ""
        other = read_meta(text)
        if other is None or marker in text or other.key == meta.key:
            continue
        marked = stale_body(text, meta.head_sha)
        if marked is not None:
            comment.edit(marked)


def _edit_by_id(
    gh: github.Github, repository: str, pr_number: int, comment_id: int, body: str
) -> tuple[int, str | None] | None:
    """PATCH a comment we know by id (one request); None when it is gone or not on this PR."""
    from github import GithubException

    url = f"{gh.get_repo(repository).url}/issues/comments/{int(comment_id)}"
    try:
        _, data = gh.requester.requestJsonAndCheck("PATCH", url, input={"body": body})
    except GithubException as exc:
        if is_not_found(exc):
            return None
        raise
    if not str(data.get("issue_url", "")).endswith(f"/issues/{pr_number}"):
        log.warning("comment %s is not on PR #%s (a stale comment id?); looking for ours", comment_id, pr_number)
        return None
    return int(data["id"]), data.get("html_url")


def _delete_quietly(comment: IssueComment) -> None:
    """Delete; a comment already deleted (by a concurrent poster) is fine."""
    from github import GithubException

    try:
        comment.delete()
    except GithubException as exc:
        if not is_not_found(exc):
            raise


def _settle_race(
    issue: Any, marker: str, created: IssueComment, body: str, scan_seconds: float
) -> tuple[IssueComment, int]:
    """After creating: keep the lowest-id comment of ours (with the newest body), delete the rest.

    Two jobs that both found no comment both create one; each then re-lists, and both pick the
    same survivor (the lowest id), so the PR ends with exactly one comment whatever the timing.
    Any rival was created after our scan began (else the scan would have found it), so the
    re-list asks only for comments since then: GitHub's own clock (our comment's created_at)
    minus how long our scan took by ours, plus a minute of slack. That is one page, not all.
    """
    since = None
    if isinstance(created.created_at, dt.datetime):
        since = created.created_at - dt.timedelta(seconds=scan_seconds + 60)
    ours = _our_comments(issue, marker, since)
    if not ours:
        return created, 0
    rivals = [c for c in ours if c.id != created.id]
    if any(shared_key_conflict(c.body, body) for c in rivals):  # another job of this build, same key
        _delete_quietly(created)
        _refuse_shared_key(rivals, body, marker)
    keep, *others = ours
    if keep.id != created.id and keep.body != body:
        keep.edit(body)
    for comment in others:
        _delete_quietly(comment)
    if others:
        log.info("removed %d duplicate ci-track comment(s), kept %s", len(others), keep.id)
    return keep, len(others)


# --------------------------------------------------------------------------------------------
# commit status and check run
# --------------------------------------------------------------------------------------------


def status_context(experiment: str) -> str:
    """The status context of an experiment, e.g. `ci-track/churn-model`."""
    return f"{STATUS_CONTEXT_PREFIX}{experiment}"


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
    if not re.fullmatch(r"[0-9a-fA-F]{7,64}", sha or ""):
        raise UsageError(f"commit status needs a commit SHA, got {sha!r}")
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
            context=status_context(key),
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
            name=status_context(key),
            conclusion="success" if passed else "failure",
            title=title,
            summary=summary,
            details_url=details_url,
        )

    def close(self) -> None:
        self.gh.close()
