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
from typing import Any

from ci_track.errors import BitbucketError
from ci_track.forges import sticky
from ci_track.forges.interface import StatusOutcome, check_commit_sha, status_name
from ci_track.forges.rest import Answer, ForgeSession, RestForge, RestThread, open_session
from ci_track.report.text import cut
from ci_track.settings import BitbucketSettings
from ci_track.transport import RetryPolicy
from ci_track.vocabulary import COMMENT_LIMIT

MAX_COMMENT_LENGTH = COMMENT_LIMIT  # Bitbucket documents no limit; the GitHub one keeps comments readable
MAX_DESCRIPTION = 255
PAGELEN = 100
# what a 401 asks the user to fix
AUTH_ADVICE = (
    "check CI_TRACK_BITBUCKET_TOKEN (a repository or workspace access token with the "
    "pullrequest:write and repository:write scopes)"
)


def connect(settings: BitbucketSettings, *, policy: RetryPolicy | None = None) -> ForgeSession:
    return open_session("Bitbucket", settings, error=BitbucketError, auth_advice=AUTH_ADVICE, policy=policy)


@dataclasses.dataclass
class CommentThread(RestThread):
    """The comments of one pull request (forges.sticky.Thread)."""

    session: ForgeSession
    repository: str
    pr_id: int
    hidden_flag = "deleted"

    @property
    def comments_url(self) -> str:
        return self.session.url(f"repositories/{self.repository}/pullrequests/{self.pr_id}/comments")

    def where(self) -> str:
        return f"{self.repository}#{self.pr_id}"

    def payload(self, body: str) -> dict[str, Any]:
        return {"content": {"raw": body}}

    def comment(self, data: Any) -> sticky.Comment:
        if not isinstance(data, dict) or not isinstance(data.get("id"), int):
            raise BitbucketError("Bitbucket answered a comment request without a comment")
        content = data.get("content")
        raw = content.get("raw") if isinstance(content, dict) else None
        links = data.get("links")
        html = links.get("html") if isinstance(links, dict) else None
        url = html.get("href") if isinstance(html, dict) else None
        return sticky.Comment(int(data["id"]), str(raw or ""), url if isinstance(url, str) else None)

    def first_page(self) -> dict[str, Any]:
        return {"pagelen": PAGELEN}

    def next_page(self, answer: Answer) -> str | None:
        following = answer.data.get("next") if isinstance(answer.data, dict) else None
        return following if isinstance(following, str) and following else None

    def entries(self, answer: Answer) -> list[Any]:
        values = answer.data.get("values") if isinstance(answer.data, dict) else None
        return values if isinstance(values, list) else []


class BitbucketForge(RestForge):
    """`forges.interface.Forge` on Bitbucket Cloud: one repository, one connected session."""

    name = "Bitbucket"
    fork_advice = "the report is in the pipeline's log and artifacts"
    comment_limit = MAX_COMMENT_LENGTH
    status_noun = "build status"

    def __init__(self, session: ForgeSession, settings: BitbucketSettings) -> None:
        super().__init__(session, settings.repository)
        self.settings = settings

    def thread(self, pr_number: int) -> CommentThread:
        return CommentThread(self.session, self.repository, pr_number)

    def pull_request_head(self, pr_number: int) -> str:
        url = self.session.url(f"repositories/{self.repository}/pullrequests/{int(pr_number)}")
        answer = self.session.request("GET", url, action=f"read pull request #{pr_number}")
        data = answer.data if isinstance(answer.data, dict) else {}
        sha = ((data.get("source") or {}).get("commit") or {}).get("hash")
        if not isinstance(sha, str):
            raise BitbucketError(f"Bitbucket's pull request #{pr_number} has no source commit")
        return sha

    def set_status(
        self, sha: str, *, key: str, passed: bool, description: str, target_url: str | None
    ) -> StatusOutcome:
        check_commit_sha(sha)
        name = status_name(key)
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
        return self.session.post_status(url, payload, sha=sha, name=name, state=state)
