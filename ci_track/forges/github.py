"""The GitHub adapter: the sticky PR comment, the commit status and the check run (PyGithub).

The command's `main()` builds `GitHubSettings.from_env(...)`, calls `connect(settings)` once and
passes the client down; everything here takes it as an argument. PyGithub and urllib3 are imported
inside functions so that importing this module (for its dataclasses) stays cheap.

GitHub's rules this module follows (see tests/contracts/README.md):
- the sticky comment is found by a hidden marker on every page of the PR's comments (GitHub lists
  them oldest first, 100 a page at most); duplicates left by concurrent posters are deleted, the
  lowest id is kept;
- a comment body is at most 65,536 characters; a longer report is cut and points to the full one;
- on fork PRs the token is read-only: 403 "Resource not accessible by integration" becomes a
  `forbidden` outcome that the caller reports as a warning, not a failure;
- rate limits (429, and 403 with a rate-limit message) are retried: `retry-after` when given,
  otherwise until `x-ratelimit-reset` when no requests remain, otherwise at least a minute with
  exponential backoff; a bounded number of attempts, and never a longer wait than `max_wait`;
  each retry is announced in one line on stderr, in the shape the MLflow client uses
  (`ci-track: retrying GitHub GET /repos/o/r/issues/7/comments in 1.0 s (attempt 2 of 5): HTTP 502`).
Every other failure becomes `GitHubError` (exit 3) with a one-line message that never holds the token.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from ci_track.errors import GitHubError, UsageError
from ci_track.report.text import cut
from ci_track.secrets import redact
from ci_track.settings import GitHubSettings
from ci_track.transport import (
    RETRYABLE_STATUSES,
    RetryPolicy,
    describe_connection_error,
    retry_after_seconds,
    retry_notice,
)
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
SECONDARY_RATE_LIMIT_WAIT = 60.0  # GitHub: without retry-after or reset, wait at least a minute
GITHUB_RETRYABLE_STATUSES = RETRYABLE_STATUSES | {403}  # 403 only when it is a rate limit
# GitHub's advice: back off from 1 s, no jitter needed (one client per job)
_BACKOFF = RetryPolicy(max_attempts=5, max_wait=600.0, base_delay=1.0, max_delay=30.0)
TRUNCATION_NOTE = (
    "\n\n---\n:warning: **This report was cut to fit GitHub's limit of "
    "{limit:,} characters; {omitted:,} characters were left out.** "
    "The full report is in the job summary and the `report.md` artifact of this run."
)
_FORBIDDEN_MESSAGES = ("resource not accessible by", "must authenticate via a github app")

CommentAction = Literal["created", "updated", "unchanged", "deleted", "absent", "skipped", "forbidden"]


# --------------------------------------------------------------------------------------------
# settings and the client
# --------------------------------------------------------------------------------------------


def rate_limit_wait(headers: Mapping[str, str], retry_number: int, *, now: float) -> float:
    """Seconds to wait before retry `retry_number` (1, 2, ...) of a rate-limited request, per GitHub's rules."""
    lowered = {k.lower(): v for k, v in headers.items()}
    retry_after = retry_after_seconds(lowered.get("retry-after"), now)
    if retry_after is not None:
        return retry_after
    reset = lowered.get("x-ratelimit-reset", "")
    if lowered.get("x-ratelimit-remaining") == "0" and reset.isdigit():
        return max(0.0, int(reset) - now) + 1.0  # +1: the reset happens somewhere in that second
    return SECONDARY_RATE_LIMIT_WAIT * 2 ** (retry_number - 1)


def transient_wait(headers: Mapping[str, str], retry_number: int, *, now: float) -> float:
    """Seconds to wait before retrying a 5xx or a dropped connection: retry-after, else 1, 2, 4... s."""
    lowered = {k.lower(): v for k, v in headers.items()}
    retry_after = retry_after_seconds(lowered.get("retry-after"), now)
    return retry_after if retry_after is not None else _BACKOFF.backoff(retry_number)


@functools.cache
def _retry_class() -> type:
    """A urllib3 Retry that implements `rate_limit_wait`/`transient_wait` (urllib3 imported lazily)."""
    from github.GithubRetry import GithubRetry
    from github.Requester import Requester
    from urllib3.exceptions import MaxRetryError
    from urllib3.util.retry import Retry

    class GitHubRateLimitRetry(Retry):
        def __init__(self, *, policy: RetryPolicy, next_wait: float = 0.0, **kwargs: Any) -> None:
            self.policy = policy
            self.next_wait = next_wait
            kwargs.setdefault("total", policy.max_attempts - 1)
            kwargs.setdefault("status_forcelist", GITHUB_RETRYABLE_STATUSES)
            # every verb: a rate-limited request was not carried out, and a POST that may have
            # been carried out before a 5xx is made harmless by the comment dedup
            kwargs.setdefault("allowed_methods", None)
            kwargs.setdefault("raise_on_status", False)  # the last response goes back to PyGithub
            super().__init__(**kwargs)

        def new(self, **kw: Any) -> Any:
            kw.setdefault("policy", self.policy)
            kw.setdefault("next_wait", self.next_wait)
            return super().new(**kw)

        def increment(
            self,
            method: str | None = None,
            url: str | None = None,
            response: Any = None,
            error: Exception | None = None,
            _pool: Any = None,
            _stacktrace: Any = None,
        ) -> Any:
            retry_number = len(self.history) + 1
            headers = dict(response.headers) if response is not None else {}
            content: Any = None
            if response is not None and response.status == 403 and "retry-after" not in _lower(headers):
                # a 403 is a rate limit only if its body says so; reading the body consumes it,
                # so from here on this method must raise PyGithub's exception itself
                content = _json_or_none(GithubRetry.get_content(response, url or ""))
                message = (content or {}).get("message") if isinstance(content, dict) else None
                if not Requester.isRateLimitError(message or ""):
                    raise Requester.createException(403, headers, content)
            try:
                retry = super().increment(method, url, response, error, _pool, _stacktrace)
            except MaxRetryError:
                if content is not None:
                    raise Requester.createException(response.status, headers, content) from None
                raise
            now = self.policy.now()
            if response is not None and response.status in (403, 429):
                wait = rate_limit_wait(headers, retry_number, now=now)
            else:
                wait = transient_wait(headers, retry_number, now=now)
            if wait > self.policy.max_wait:
                status = response.status if response is not None else None
                raise GitHubError(
                    f"GitHub asks ci-track to wait {wait:.0f} s (HTTP {status}) before trying again, "
                    f"more than CI_TRACK_GITHUB_MAX_WAIT={self.policy.max_wait:.0f} s: try again later "
                    "or raise CI_TRACK_GITHUB_MAX_WAIT",
                    status=status,
                )
            reason = f"HTTP {response.status}" if response is not None else describe_connection_error(error)
            what = f"GitHub {method} {redact(_path_only(url))}"
            self.policy.progress(retry_notice(what, wait, retry_number + 1, self.policy.max_attempts, reason))
            retry.next_wait = wait
            return retry

        def sleep(self, response: Any = None) -> None:
            if self.next_wait > 0:
                self.policy.sleep(self.next_wait)

    return GitHubRateLimitRetry


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _path_only(url: str | None) -> str:
    return (url or "").split("?", 1)[0]


def connect(
    settings: GitHubSettings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
) -> github.Github:
    """A PyGithub client for `settings`: lazy objects, no self-throttling, GitHub's retry rules."""
    from github import Auth, Github

    policy = dataclasses.replace(
        _BACKOFF, max_attempts=settings.max_attempts, max_wait=settings.max_wait, sleep=sleep, now=now
    )
    return Github(
        auth=Auth.Token(settings.token),
        base_url=settings.api_url.rstrip("/"),
        timeout=settings.timeout,
        user_agent="ci-track",
        per_page=100,  # GitHub's maximum: fewer pages to read when looking for our comment
        retry=_retry_class()(policy=policy),
        # PyGithub otherwise sleeps between requests on its own (1 s between writes)
        seconds_between_requests=0,
        seconds_between_writes=0,
        # lazy: objects are built from URLs without a GET each (repo, issue, commit)
        lazy=True,
    )


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


class IntegrationForbidden(GitHubError):
    """403 "Resource not accessible by integration": a read-only token, e.g. on a fork PR."""


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return redact(text if len(text) <= limit else text[: limit - 1] + "…")


def _github_message(exc: Any) -> str:
    data = getattr(exc, "data", None)
    if not isinstance(data, dict):
        return str(data or "").strip()
    message = str(data.get("message") or "").strip()
    details = [
        str(e.get("message") or e.get("code") or "")
        for e in data.get("errors") or []
        if isinstance(e, dict) and (e.get("message") or e.get("code"))
    ]
    return ": ".join([message, "; ".join(details)]) if details else message


def _translate(exc: Exception, action: str) -> GitHubError:
    """PyGithub's and requests' exceptions -> GitHubError with one line saying what to do."""
    import requests
    from github import GithubException

    if isinstance(exc, requests.RequestException):
        return GitHubError(_one_line(f"could not reach GitHub to {action}: {type(exc).__name__}: {exc}"))
    if not isinstance(exc, GithubException):
        return GitHubError(_one_line(f"GitHub client failed to {action}: {type(exc).__name__}"))
    status = exc.status
    message = _github_message(exc)
    said = f"HTTP {status} {message}".strip()
    if status == 401:
        text = (
            f"GitHub rejected the token ({said}) when trying to {action}: check GITHUB_TOKEN / the github-token input"
        )
    elif status == 403 and any(m in message.lower() for m in _FORBIDDEN_MESSAGES):
        return IntegrationForbidden(
            _one_line(
                f"the GitHub token may not {action} ({said}): on pull requests from forks GITHUB_TOKEN is "
                "read-only; give the job `pull-requests: write` and `statuses: write`, or post from a "
                "workflow_run workflow"
            ),
            status=status,
        )
    elif status in (403, 429) and ("rate limit" in message.lower() or status == 429):
        text = f"GitHub rate limit still exceeded after retrying ({said}) when trying to {action}: try again later"
    elif status == 403:
        text = f"GitHub refused to {action} ({said}): check the token's permissions"
    elif status == 404:
        text = (
            f"GitHub found nothing to {action} ({said}): check the repository name, the PR number "
            "and that the token can see the repository"
        )
    elif status == 422:
        text = f"GitHub rejected the request to {action} ({said})"
    elif status >= 500:
        text = f"GitHub failed to {action} ({said}) after retrying; it may be having an outage, try again"
    else:
        text = f"GitHub answered {said} when asked to {action}"
    return GitHubError(_one_line(text), status=status)


@contextlib.contextmanager
def _github_call(action: str) -> Iterator[None]:
    """Translate anything PyGithub or requests raise inside the block (the adapter boundary)."""
    import requests
    from github import GithubException

    try:
        yield
    except GitHubError:
        raise
    except (GithubException, requests.RequestException) as exc:
        # `from None`: a requests exception carries the request, and its headers hold the token
        raise _translate(exc, action) from None


def _is_not_found(exc: Exception) -> bool:
    return getattr(exc, "status", None) == 404


# --------------------------------------------------------------------------------------------
# the sticky comment
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CommentOutcome:
    """What `post_sticky_comment` did. `forbidden` is a warning for the caller, not a failure."""

    action: CommentAction
    comment_id: int | None = None
    html_url: str | None = None
    deleted: int = 0  # comments of ours removed: duplicates, or the old ones for `new`/`delete-on-pass`
    truncated: bool = False
    warning: str = ""

    @property
    def forbidden(self) -> bool:
        return self.action == "forbidden"


def comment_marker(key: str) -> str:
    """The hidden marker of ci-track's comment for `key` (e.g. the experiment): `<!-- ci-track:key -->`.

    Characters that could end the HTML comment are replaced; the closing ` -->` keeps the marker of
    `model` from matching the comment of `model-v2`.
    """
    cleaned = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9._/-]", "-", key)).strip("-") or "default"
    return f"<!-- ci-track:{cleaned} -->"


def fit_comment_body(body: str, marker: str, *, limit: int = MAX_COMMENT_LENGTH) -> tuple[str, bool]:
    """The body with the marker in it, cut to `limit` characters: (body, was it cut?).

    A cut happens at a line break, closes an open code fence or <details>, and ends with a note
    that points to the job summary / report.md, so the comment stays valid markdown and findable.
    """
    if marker and marker not in body:
        body = f"{marker}\n{body}"
    if len(body) <= limit:
        return body, False
    closers = ("\n```", "\n</details>")
    budget = limit - len(TRUNCATION_NOTE.format(limit=limit, omitted=len(body))) - sum(map(len, closers))
    if marker and marker not in body[:budget]:
        body = f"{marker}\n" + body.replace(marker, "")  # the marker must survive the cut
    head = body[:budget]
    line_end = head.rfind("\n")
    if line_end > (head.find(marker) + len(marker) if marker else 0):
        head = head[:line_end]
    if head.count("```") % 2:
        head += closers[0]
    if head.count("<details") > head.count("</details>"):
        head += closers[1]
    return head + TRUNCATION_NOTE.format(limit=limit, omitted=len(body) - len(head)), True


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
        with _github_call(f"find the ci-track comment on {where}"):
            issue = gh.get_repo(repository).get_issue(pr_number)  # lazy: no request
        if mode == "delete-on-pass" and passed:
            with _github_call(f"delete the ci-track comment on {where}"):
                ours = _our_comments(issue, marker)
                for comment in ours:
                    _delete_quietly(comment)
            log.info("deleted %d ci-track comment(s) on %s: the gate passed", len(ours), where)
            return CommentOutcome("deleted" if ours else "absent", deleted=len(ours))

        with _github_call(f"update the ci-track comment on {where}"):
            if comment_id is not None and mode != "new":
                edited = _edit_by_id(gh, repository, pr_number, comment_id, body)
                if edited is not None:
                    return CommentOutcome("updated", edited[0], edited[1], truncated=truncated)
            scan_started = time.monotonic()
            ours = _our_comments(issue, marker)
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

        with _github_call(f"create the ci-track comment on {where}"):
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


def _edit_by_id(
    gh: github.Github, repository: str, pr_number: int, comment_id: int, body: str
) -> tuple[int, str | None] | None:
    """PATCH a comment we know by id (one request); None when it is gone or not on this PR."""
    from github import GithubException

    url = f"{gh.get_repo(repository).url}/issues/comments/{int(comment_id)}"
    try:
        _, data = gh.requester.requestJsonAndCheck("PATCH", url, input={"body": body})
    except GithubException as exc:
        if _is_not_found(exc):
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
        if not _is_not_found(exc):
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


@dataclasses.dataclass(frozen=True)
class StatusOutcome:
    action: Literal["created", "forbidden"]
    context: str
    state: str
    warning: str = ""

    @property
    def forbidden(self) -> bool:
        return self.action == "forbidden"


def status_context(experiment: str) -> str:
    """The status context of an experiment, e.g. `ci-track/churn-model`."""
    return f"{STATUS_CONTEXT_PREFIX}{experiment}"


def pull_request_head_sha(gh: github.Github, repository: str, pr_number: int) -> str:
    """The PR's current head commit (pulls/get): what a report posted from an artifact must be for."""
    with _github_call(f"read pull request {repository}#{pr_number}"):
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
        with _github_call(f"set the {context} status on {repository}@{sha[:12]}"):
            commit.create_status(state, **kwargs)
    except IntegrationForbidden as exc:
        log.warning("%s", exc)
        return StatusOutcome("forbidden", context, state, warning=str(exc))
    return StatusOutcome("created", context, state)


@dataclasses.dataclass(frozen=True)
class CheckRunOutcome:
    action: Literal["created", "forbidden"]
    check_run_id: int | None = None
    html_url: str | None = None
    truncated: bool = False
    warning: str = ""


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
        with _github_call(f"create the {name} check run on {repository}@{head_sha[:12]}"):
            run = gh.get_repo(repository).create_check_run(**kwargs)
    except IntegrationForbidden as exc:
        log.warning("%s", exc)
        return CheckRunOutcome("forbidden", truncated=truncated, warning=str(exc))
    return CheckRunOutcome("created", run.id, run.html_url, truncated=truncated)
