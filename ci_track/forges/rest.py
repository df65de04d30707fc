"""The HTTP client of the forges spoken with plain `requests` (GitLab, Bitbucket): one retry policy, their
rate-limit headers, pages that are only followed on the API's own host, and one error translation.

`ForgeSession.request` tries a call at most `RetryPolicy.max_attempts` times: a dropped connection,
429 and 5xx are retried (transport.RETRYABLE_STATUSES), waiting what the forge asks for
(`Retry-After`; else the reset time of `RateLimit-Reset` / `X-RateLimit-Reset` when no requests
remain; else exponential backoff) and never longer than `max_wait` for one wait. Every retry is one
line on stderr. A final answer of 400 or more becomes a `ForgeError` of the adapter's class with a
one-line message (its token redacted), except 403, which is `ForgeForbidden`: the sticky comment
and the status report it as a `forbidden` outcome (a fork's token, a job token), not as a failure.
The words of a failure (`failure_words`, `one_line`) are GitHub's too (forges/github_api.py).
`RestThread` and `RestForge` are what the GitLab and Bitbucket adapters share on top: a comment
thread at one URL (POST, PUT and DELETE by id), the sticky comment over it (forges/sticky.py), no
check runs. `requests` is imported inside functions, so importing this module is cheap.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ci_track import transport
from ci_track.errors import ForgeError, ForgeForbidden
from ci_track.forges import sticky
from ci_track.forges.interface import CheckRunOutcome, CommentOutcome, StatusOutcome
from ci_track.report.text import comment_marker
from ci_track.secrets import redact, remember_secret
from ci_track.settings import MAX_WAIT_VARIABLE
from ci_track.transport import RetryPolicy

if TYPE_CHECKING:
    import requests

    from ci_track.settings import RestForgeSettings

MAX_PAGES = 1000  # a forge that keeps answering "next" would otherwise be read forever


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # names lowercased
    data: Any  # the JSON body, or None


def rate_limit_wait(headers: Mapping[str, str], retry_number: int, policy: RetryPolicy) -> float:
    """Seconds to wait before retry `retry_number` (1, 2, ...) of a 429 or 5xx answer with these headers."""
    now = policy.now()
    retry_after = transport.retry_after_seconds(headers.get("retry-after"), now)
    if retry_after is not None:
        return retry_after
    for prefix in ("ratelimit-", "x-ratelimit-"):  # GitLab: RateLimit-*; others: X-RateLimit-*
        reset = headers.get(prefix + "reset", "").strip()
        if headers.get(prefix + "remaining", "").strip() == "0" and reset.isdigit():
            return max(0.0, int(reset) - now) + 1.0  # +1: the reset happens somewhere in that second
    return policy.backoff(retry_number)


def error_message(data: Any) -> str:
    """The forge's own words from an error body: GitLab's `message`/`error`, Bitbucket's `error.message`."""
    if isinstance(data, str):
        return data.strip()
    if not isinstance(data, Mapping):
        return ""
    inner = data.get("error")
    if isinstance(inner, Mapping):  # Bitbucket: {"type": "error", "error": {"message": ..., "detail": ...}}
        parts = [str(inner.get("message") or ""), str(inner.get("detail") or "")]
        return ": ".join(p for p in parts if p and p != "None")
    message = data.get("message", inner)
    if isinstance(message, Mapping):  # GitLab validation errors: {"message": {"note": ["is too long"]}}
        return "; ".join(f"{key} {' '.join(map(str, v)) if isinstance(v, list) else v}" for key, v in message.items())
    if isinstance(message, list):
        return "; ".join(map(str, message))
    return str(message or data.get("error_description") or "").strip()


def one_line(text: str, limit: int = 300) -> str:
    """A forge's failure as one line of at most `limit` characters, with every known secret redacted."""
    text = " ".join(str(text).split())
    return redact(text if len(text) <= limit else text[: limit - 1] + "…")


def failure_words(forge: str, status: int, said: str, action: str, *, auth_advice: str, not_found_advice: str) -> str:
    """What a final HTTP failure (`said`: "HTTP 404 ...") of `forge` means when trying to `action`, and what
    to do about it; a 403 is worded by each forge (a refusal, or GitHub's secondary rate limit)."""
    if status == 401:
        return f"{forge} rejected the token ({said}) when trying to {action}: {auth_advice}"
    if status == 404:
        return f"{forge} found nothing to {action} ({said}): {not_found_advice}"
    if status in (400, 409, 422):
        return f"{forge} rejected the request to {action} ({said})"
    if status == 429:
        return f"{forge} rate limit still exceeded after retrying ({said}) when trying to {action}: try again later"
    if status >= 500:
        return f"{forge} failed to {action} ({said}) after retrying; it may be having an outage, try again"
    return f"{forge} answered {said} when asked to {action}"


class ForgeSession:
    """One connected client of a forge's REST API: `base_url` + paths, an auth header, the retry policy."""

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        token: str,
        policy: RetryPolicy,
        timeout: float,
        error: type[ForgeError],
        auth_advice: str,
        session: requests.Session | None = None,
    ) -> None:
        import requests

        remember_secret(token)  # whatever variable it came from, it is never printed
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self.timeout = timeout
        self.error = error
        self.auth_advice = auth_advice  # "check CI_TRACK_GITLAB_TOKEN": what a 401 asks the user to fix
        self._session = session or requests.Session()
        self._session.headers.update(
            {"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": "ci-track"}
        )
        self._origin = _origin(self.base_url)

    def post_status(self, url: str, payload: dict[str, Any], *, sha: str, name: str, state: str) -> StatusOutcome:
        """POST a commit status; a 403 (a fork's pipeline, a read-only token) is the `forbidden` outcome."""
        try:
            self.request("POST", url, json=payload, action=f"set the {name} status on {sha[:12]}")
        except ForgeForbidden as exc:
            return StatusOutcome("forbidden", name, state, warning=str(exc))
        return StatusOutcome("created", name, state)

    def close(self) -> None:
        self._session.close()

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def same_origin(self, url: str) -> bool:
        """Whether `url` (a `next` page the forge named) is on the API's own host: the token goes nowhere else."""
        return _origin(url) == self._origin

    def request(
        self,
        method: str,
        url: str,
        *,
        action: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        missing_ok: bool = False,
    ) -> Answer:
        """The forge's final answer; raises ForgeError (ForgeForbidden on 403). `missing_ok`: 404 is an answer."""
        attempts = self.policy.max_attempts
        for attempt in range(1, attempts + 1):
            answer, reason = self._send(method, url, params, json, action, last=attempt == attempts)
            if reason is None or attempt == attempts:
                break
            headers = answer.headers if answer is not None else {}
            wait = rate_limit_wait(headers, attempt, self.policy)
            if wait > self.policy.max_wait:
                raise self.error(
                    f"{self.name} asks ci-track to wait {wait:.0f} s ({reason}) before trying again, more than "
                    f"{MAX_WAIT_VARIABLE}={self.policy.max_wait:.0f} s: try again later or raise it",
                    status=answer.status if answer is not None else None,
                )
            what = f"{self.name} {method} {redact(urlsplit(url).path)}"
            self.policy.progress(transport.retry_notice(what, wait, attempt + 1, attempts, reason))
            self.policy.sleep(wait)
        assert answer is not None  # the last attempt raises on a connection error
        if answer.status >= 400 and not (missing_ok and answer.status == 404):
            raise self._translate(answer, action)
        return answer

    def _send(
        self, method: str, url: str, params: Mapping[str, Any] | None, body: Any, action: str, *, last: bool
    ) -> tuple[Answer | None, str | None]:
        """(answer, why to retry it or None)."""
        import requests

        try:
            response = self._session.request(method, url, params=params, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            said = transport.describe_connection_error(exc)
            if last:
                # `from None`: the exception carries the request, and its headers hold the token
                raise self.error(one_line(f"could not reach {self.name} to {action}: {said}")) from None
            return None, said
        headers = {k.lower(): v for k, v in response.headers.items()}
        try:
            data = response.json() if response.content.strip() else None
        except ValueError:
            data = response.text
        answer = Answer(response.status_code, headers, data)
        retry = response.status_code in transport.RETRYABLE_STATUSES
        return answer, (f"HTTP {response.status_code}" if retry else None)

    def _translate(self, answer: Answer, action: str) -> ForgeError:
        status = answer.status
        said = f"HTTP {status} {error_message(answer.data)}".strip()
        if status == 403:
            return ForgeForbidden(one_line(f"the {self.name} token may not {action} ({said})"), status=status)
        text = failure_words(
            self.name,
            status,
            said,
            action,
            auth_advice=self.auth_advice,
            not_found_advice=(
                "check the project or repository, the merge/pull request number, and that the token can see it"
            ),
        )
        return self.error(one_line(text), status=status)

    def pages(self, first: str, *, action: str, params: Mapping[str, Any], next_url: Any) -> Iterator[Answer]:
        """Every page of a listing: `next_url(answer)` names the next one (None at the end)."""
        url: str | None = first
        query: Mapping[str, Any] | None = params
        for _ in range(MAX_PAGES):
            if url is None:
                return
            answer = self.request("GET", url, action=action, params=query)
            yield answer
            following = next_url(answer)
            if following is not None and not self.same_origin(following):
                raise self.error(f"{self.name} named a next page on another host ({_origin(following)}): not followed")
            url, query = following, None  # a `next` URL carries its own query
        raise self.error(f"{self.name} kept naming a next page after {MAX_PAGES} pages when trying to {action}")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def link_next(header: str | None) -> str | None:
    """The `rel="next"` URL of an RFC 8288 Link header, if any."""
    for part in (header or "").split(","):
        target, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", "") or "rel=next" in params.replace(" ", ""):
            return target.strip().strip("<>") or None
    return None


def open_session(
    name: str,
    settings: RestForgeSettings,
    *,
    error: type[ForgeError],
    auth_advice: str,
    policy: RetryPolicy | None = None,
) -> ForgeSession:
    """A forge's session from its settings, with the knobs every forge shares (CI_TRACK_FORGE_TIMEOUT/...)."""
    http = settings.http
    policy = policy or RetryPolicy(
        max_attempts=http.max_attempts, max_wait=http.max_wait, base_delay=1.0, max_delay=30.0
    )
    return ForgeSession(
        name=name,
        base_url=settings.api_url,
        token=settings.token,
        policy=policy,
        timeout=http.timeout,
        error=error,
        auth_advice=auth_advice,
    )


class RestThread(abc.ABC):
    """A `sticky.Thread` whose comments live at one URL: listed page by page there, created with POST
    there, edited with PUT and deleted with DELETE at `<url>/<id>` (GitLab's notes, Bitbucket's comments)."""

    session: ForgeSession
    noun = "comment"  # in messages: GitLab says "note"
    # the flag of an entry that nobody wrote or nobody sees: GitLab's system notes ("added 1 commit"),
    # Bitbucket's deleted comments (they stay listed)
    hidden_flag: str

    @property
    @abc.abstractmethod
    def comments_url(self) -> str: ...

    @abc.abstractmethod
    def where(self) -> str:
        """The pull/merge request in messages: `group/proj!7`, `ws/repo#7`."""

    @abc.abstractmethod
    def first_page(self) -> dict[str, Any]:
        """The query of the listing's first page."""

    @abc.abstractmethod
    def next_page(self, answer: Answer) -> str | None:
        """The URL of the page after `answer`, None at the end."""

    @abc.abstractmethod
    def entries(self, answer: Answer) -> list[Any]:
        """The entries of one page of the listing, as the forge answered them."""

    @abc.abstractmethod
    def payload(self, body: str) -> dict[str, Any]:
        """The JSON a comment with this markdown `body` is written as."""

    @abc.abstractmethod
    def comment(self, data: Any) -> sticky.Comment:
        """One comment as the forge answered it."""

    def list(self) -> list[sticky.Comment]:
        found: list[sticky.Comment] = []
        for answer in self.session.pages(
            self.comments_url,
            action=f"list the {self.noun}s of {self.where()}",
            params=self.first_page(),
            next_url=self.next_page,
        ):
            for entry in self.entries(answer):
                if isinstance(entry, dict) and isinstance(entry.get("id"), int) and not entry.get(self.hidden_flag):
                    found.append(self.comment(entry))
        return found

    def create(self, body: str) -> sticky.Comment:
        answer = self.session.request(
            "POST",
            self.comments_url,
            json=self.payload(body),
            action=f"create the ci-track {self.noun} on {self.where()}",
        )
        return self.comment(answer.data)

    def update(self, comment_id: int, body: str) -> sticky.Comment:
        answer = self.session.request(
            "PUT",
            f"{self.comments_url}/{int(comment_id)}",
            json=self.payload(body),
            action=f"update the ci-track {self.noun} on {self.where()}",
        )
        return self.comment(answer.data)

    def delete(self, comment_id: int) -> None:
        self.session.request(
            "DELETE",
            f"{self.comments_url}/{int(comment_id)}",
            action=f"delete a ci-track {self.noun} on {self.where()}",
            missing_ok=True,
        )


class RestForge(abc.ABC):
    """What the `forges.interface.Forge`s over a `ForgeSession` share: the sticky comment over their
    `RestThread`, no check runs (the commit status is the check), closing the session."""

    name: str
    comment_limit: int
    status_noun: str  # what the forge calls a commit status: "commit status", "build status"

    def __init__(self, session: ForgeSession, repository: str) -> None:
        self.session = session
        self.repository = repository

    @abc.abstractmethod
    def thread(self, pr_number: int) -> RestThread:
        """The comments of pull/merge request `pr_number`."""

    def post_sticky_comment(self, pr_number: int, body: str, *, key: str, mode: str, passed: bool) -> CommentOutcome:
        return sticky.post_sticky(
            self.thread(pr_number), body, marker=comment_marker(key), mode=mode, passed=passed, limit=self.comment_limit
        )

    def create_check(
        self, sha: str, *, key: str, passed: bool, title: str, summary: str, details_url: str | None
    ) -> CheckRunOutcome:
        return CheckRunOutcome(
            "unsupported", warning=f"{self.name} has no check runs: the {self.status_noun} is the check"
        )

    def close(self) -> None:
        self.session.close()
