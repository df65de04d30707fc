"""Bitbucket Cloud as a forge (API 2.0): the sticky pull request comment and the commit build status.

`BitbucketForge` implements `forges.interface.Forge` over one `ForgeSession` (plain `requests`, the
retry policy of transport.py), built by `connect(settings)` from commands/_publish.open_forge.

Bitbucket's rules this module follows (tests/contracts/bitbucket-2.0-subset.json says where each comes from):
- a repository is `{workspace}/{repo_slug}`; a PR's comments are a paginated list, `values` with a
  `next` URL in the body until the last page (`pagelen` up to 100); deleted comments stay listed
  with `deleted: true` and are never ours;
- a comment is `{"content": {"raw": markdown}}`, created with POST, edited with PUT, removed with DELETE;
- a build status is `POST .../commit/{sha}/statuses/build` with `key` (the status is unique by it:
  posting the same key again replaces it), `state` SUCCESSFUL|FAILED, `name`, `url` (required) and
  `description`;
- the PR's `source.commit.hash` is the head, often abbreviated (12 hex digits);
- a repository or workspace access token goes in `Authorization: Bearer`; a 403 (a read-only
  token, a missing `pullrequest:write` scope) is the `forbidden` outcome.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from ci_track.errors import BitbucketError, UsageError
from ci_track.forges import sticky
from ci_track.forges.interface import CheckRunOutcome, CommentOutcome, StatusOutcome
from ci_track.forges.rest import ForgeForbidden, ForgeSession
from ci_track.report.text import comment_marker, cut
from ci_track.settings import BitbucketSettings
from ci_track.transport import RetryPolicy
from ci_track.vocabulary import COMMENT_LIMIT

MAX_COMMENT_LENGTH = COMMENT_LIMIT  # Bitbucket documents no limit; the GitHub one keeps comments readable
MAX_DESCRIPTION = 255
PAGELEN = 100
STATUS_PREFIX = "ci-track/"


def connect(settings: BitbucketSettings, *, policy: RetryPolicy | None = None) -> ForgeSession:
    policy = policy or RetryPolicy(
        max_attempts=settings.http.max_attempts, max_wait=settings.http.max_wait, base_delay=1.0, max_delay=30.0
    )
    return ForgeSession(
        name="Bitbucket",
        base_url=settings.api_url,
        token=settings.token,
        policy=policy,
        timeout=settings.http.timeout,
        error=BitbucketError,
        auth_advice="check CI_TRACK_BITBUCKET_TOKEN (a repository or workspace access token with the "
        "pullrequest:write and repository:write scopes)",
    )


def _next(answer: Any) -> str | None:
    data = answer.data
    following = data.get("next") if isinstance(data, dict) else None
    return following if isinstance(following, str) and following else None


@dataclasses.dataclass
class CommentThread:
    """The comments of one pull request (forges.sticky.Thread)."""

    session: ForgeSession
    repository: str
    pr_id: int

    @property
    def _comments_url(self) -> str:
        return self.session.url(f"repositories/{self.repository}/pullrequests/{self.pr_id}/comments")

    def _where(self) -> str:
        return f"{self.repository}#{self.pr_id}"

    def list(self) -> list[sticky.Comment]:
        found: list[sticky.Comment] = []
        for answer in self.session.pages(
            self._comments_url,
            action=f"list the comments of {self._where()}",
            params={"pagelen": PAGELEN},
            next_url=_next,
        ):
            values = answer.data.get("values") if isinstance(answer.data, dict) else None
            for comment in values if isinstance(values, list) else []:
                if isinstance(comment, dict) and not comment.get("deleted") and isinstance(comment.get("id"), int):
                    found.append(_comment(comment))
        return found

    def create(self, body: str) -> sticky.Comment:
        answer = self.session.request(
            "POST",
            self._comments_url,
            json={"content": {"raw": body}},
            action=f"create the ci-track comment on {self._where()}",
        )
        return _comment(answer.data)

    def update(self, comment_id: int, body: str) -> sticky.Comment:
        answer = self.session.request(
            "PUT",
            f"{self._comments_url}/{int(comment_id)}",
            json={"content": {"raw": body}},
            action=f"update the ci-track comment on {self._where()}",
        )
        return _comment(answer.data)

    def delete(self, comment_id: int) -> None:
        self.session.request(
            "DELETE",
            f"{self._comments_url}/{int(comment_id)}",
            action=f"delete a ci-track comment on {self._where()}",
            missing_ok=True,
        )


def _comment(data: Any) -> sticky.Comment:
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        raise BitbucketError("Bitbucket answered a comment request without a comment")
    content = data.get("content")
    raw = content.get("raw") if isinstance(content, dict) else None
    links = data.get("links")
    html = links.get("html") if isinstance(links, dict) else None
    url = html.get("href") if isinstance(html, dict) else None
    return sticky.Comment(int(data["id"]), str(raw or ""), url if isinstance(url, str) else None)


class BitbucketForge:
    """`forges.interface.Forge` on Bitbucket Cloud: one repository, one connected session."""

    name = "Bitbucket"
    fork_advice = "the report is in the pipeline's log and artifacts"

    def __init__(self, session: ForgeSession, settings: BitbucketSettings) -> None:
        self.session = session
        self.settings = settings
        self.repository = settings.repository

    def pull_request_head(self, pr_number: int) -> str:
        url = self.session.url(f"repositories/{self.repository}/pullrequests/{int(pr_number)}")
        answer = self.session.request("GET", url, action=f"read pull request #{pr_number}")
        data = answer.data if isinstance(answer.data, dict) else {}
        sha = ((data.get("source") or {}).get("commit") or {}).get("hash")
        if not isinstance(sha, str):
            raise BitbucketError(f"Bitbucket's pull request #{pr_number} has no source commit")
        return sha

    def post_sticky_comment(self, pr_number: int, body: str, *, key: str, mode: str, passed: bool) -> CommentOutcome:
        thread = CommentThread(self.session, self.repository, pr_number)
        return sticky.post_sticky(
            thread, body, marker=comment_marker(key), mode=mode, passed=passed, limit=MAX_COMMENT_LENGTH
        )

    def set_status(
        self, sha: str, *, key: str, passed: bool, description: str, target_url: str | None
    ) -> StatusOutcome:
        if not re.fullmatch(r"[0-9a-fA-F]{7,64}", sha or ""):
            raise UsageError(f"commit status needs a commit SHA, got {sha!r}")
        name = f"{STATUS_PREFIX}{key}"
        state = "SUCCESSFUL" if passed else "FAILED"
        link = target_url or self.settings.build_url or f"https://bitbucket.org/{self.repository}"
        payload = {
            "key": name,
            "state": state,
            "name": name,
            "url": link,
            "description": cut(description, MAX_DESCRIPTION),
        }
        url = self.session.url(f"repositories/{self.repository}/commit/{sha}/statuses/build")
        try:
            self.session.request("POST", url, json=payload, action=f"set the {name} build status on {sha[:12]}")
        except ForgeForbidden as exc:
            return StatusOutcome("forbidden", name, state, warning=str(exc))
        return StatusOutcome("created", name, state)

    def create_check(
        self, sha: str, *, key: str, passed: bool, title: str, summary: str, details_url: str | None
    ) -> CheckRunOutcome:
        return CheckRunOutcome("unsupported", warning="Bitbucket has no check runs: the build status is the check")

    def close(self) -> None:
        self.session.close()
