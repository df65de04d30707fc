"""GitHub's REST API through PyGithub: the connection, GitHub's retry rules, and the error translation.

`connect(settings)` builds the one PyGithub client a command uses (commands/_publish.py calls it).
Retries follow transport.RetryPolicy with GitHub's own rules on top: rate limits (429, and 403
with a rate-limit message) wait for `retry-after`, else until `x-ratelimit-reset` when no requests
remain, else at least a minute with exponential backoff, and never longer than `max_wait`.
PyGithub, urllib3 and requests are imported inside functions, so importing this module is cheap.
Every PyGithub or requests exception raised inside `github_call` becomes a `GitHubError` (exit 3)
with a one-line message that never holds the token: the adapter boundary.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ci_track.errors import ForgeForbidden, GitHubError
from ci_track.forges.rest import failure_words, one_line
from ci_track.secrets import redact
from ci_track.settings import MAX_WAIT_VARIABLE, GitHubSettings
from ci_track.transport import (
    RETRYABLE_STATUSES,
    RetryPolicy,
    describe_connection_error,
    retry_after_seconds,
    retry_notice,
)

if TYPE_CHECKING:
    import github


SECONDARY_RATE_LIMIT_WAIT = 60.0  # GitHub: without retry-after or reset, wait at least a minute


GITHUB_RETRYABLE_STATUSES = RETRYABLE_STATUSES | {403}  # 403 only when it is a rate limit


# GitHub's advice: back off from 1 s, no jitter needed (one client per job)
_BACKOFF = RetryPolicy(max_attempts=5, max_wait=600.0, base_delay=1.0, max_delay=30.0)


_FORBIDDEN_MESSAGES = ("resource not accessible by", "must authenticate via a github app")


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
                    f"more than {MAX_WAIT_VARIABLE}={self.policy.max_wait:.0f} s: try again later or raise it",
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


class IntegrationForbidden(GitHubError, ForgeForbidden):
    """403 "Resource not accessible by integration": a read-only token, e.g. on a fork PR."""


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
        return GitHubError(one_line(f"could not reach GitHub to {action}: {type(exc).__name__}: {exc}"))
    if not isinstance(exc, GithubException):
        return GitHubError(one_line(f"GitHub client failed to {action}: {type(exc).__name__}"))
    status = exc.status
    message = _github_message(exc)
    said = f"HTTP {status} {message}".strip()
    if status == 403 and any(m in message.lower() for m in _FORBIDDEN_MESSAGES):
        return IntegrationForbidden(
            one_line(
                f"the GitHub token may not {action} ({said}): on pull requests from forks GITHUB_TOKEN is "
                "read-only; give the job `pull-requests: write` and `statuses: write`, or post from a "
                "workflow_run workflow"
            ),
            status=status,
        )
    if status == 403 and "rate limit" not in message.lower():
        text = f"GitHub refused to {action} ({said}): check the token's permissions"
    else:  # a 403 that says "rate limit" is GitHub's secondary rate limit: worded as the 429 it means
        text = failure_words(
            "GitHub",
            429 if status == 403 else status,
            said,
            action,
            auth_advice="check GITHUB_TOKEN / the github-token input",
            not_found_advice="check the repository name, the PR number and that the token can see the repository",
        )
    return GitHubError(one_line(text), status=status)


@contextlib.contextmanager
def github_call(action: str) -> Iterator[None]:
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


def is_not_found(exc: Exception) -> bool:
    return getattr(exc, "status", None) == 404
