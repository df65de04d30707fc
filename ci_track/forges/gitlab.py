"""GitLab as a forge (gitlab.com and self-managed, API v4): the sticky merge request note and the commit status.

`GitLabForge` implements `forges.interface.Forge` over one `ForgeSession` (plain `requests`, the
retry policy of transport.py), built by `connect(settings)` from commands/_publish.open_forge.

GitLab's rules this module follows (tests/contracts/gitlab-v4-subset.json says where each comes from):
- a project is addressed by its numeric id or its URL-encoded path (`group%2Fsub%2Fproj`);
- an MR's notes are listed 100 a page at most, oldest first with `sort=asc`; the next page is named
  by the `x-next-page` header (empty on the last page), or by the `Link` header's rel="next";
  system notes ("added 1 commit") are GitLab's own and never ours;
- a note body is at most 1,000,000 characters;
- a commit status is `POST /projects/:id/statuses/:sha` with `state` success|failed, a `name`
  (`ci-track/<experiment>`), `target_url`, `description`, the MR's source branch as `ref` and,
  when the pipeline ran on that very commit, its `pipeline_id`;
- CI_JOB_TOKEN cannot write notes or statuses: a project or group access token is needed; a 403
  (a fork MR's pipeline, a Guest role) is the `forbidden` outcome.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import quote

from ci_track.errors import GitLabError
from ci_track.forges import sticky
from ci_track.forges.interface import StatusOutcome, check_commit_sha, status_name
from ci_track.forges.rest import Answer, ForgeSession, RestForge, RestThread, link_next, open_session
from ci_track.report.text import cut
from ci_track.settings import GitLabSettings
from ci_track.transport import RetryPolicy

MAX_NOTE_LENGTH = 1_000_000
MAX_DESCRIPTION = 255
PER_PAGE = 100
_LISTING = {"per_page": PER_PAGE, "sort": "asc", "order_by": "created_at"}  # a note listing's query, but its page
# what a 401 asks the user to fix
AUTH_ADVICE = (
    "check CI_TRACK_GITLAB_TOKEN (a project or group access token with the api scope; CI_JOB_TOKEN cannot write notes)"
)


def connect(settings: GitLabSettings, *, policy: RetryPolicy | None = None) -> ForgeSession:
    return open_session("GitLab", settings, error=GitLabError, auth_advice=AUTH_ADVICE, policy=policy)


def project_ref(project: str) -> str:
    """The `:id` of a project in a path: the numeric id as it is, a path URL-encoded (slashes too)."""
    return project if project.isdigit() else quote(project, safe="")


def next_page_url(answer: Answer, first_url: str, params: dict[str, Any]) -> str | None:
    """GitLab's next page: `x-next-page` (empty at the end), else the Link header's rel="next"."""
    following = answer.headers.get("x-next-page", "").strip()
    if following.isdigit():
        query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in {**params, "page": following}.items())
        return f"{first_url}?{query}"
    if "x-next-page" in answer.headers:
        return None
    return link_next(answer.headers.get("link"))


@dataclasses.dataclass
class NoteThread(RestThread):
    """The notes of one merge request (forges.sticky.Thread)."""

    session: ForgeSession
    project: str
    iid: int
    web_url: str | None = None  # the project's web address: a note's link is <it>/-/merge_requests/<iid>#note_<id>
    noun = "note"
    hidden_flag = "system"

    @property
    def comments_url(self) -> str:
        return self.session.url(f"projects/{project_ref(self.project)}/merge_requests/{self.iid}/notes")

    def where(self) -> str:
        return f"{self.project}!{self.iid}"

    def payload(self, body: str) -> dict[str, Any]:
        return {"body": body}

    def comment(self, data: Any) -> sticky.Comment:
        url = f"{self.web_url}/-/merge_requests/{self.iid}#note_{int(data['id'])}" if self.web_url else None
        return sticky.Comment(int(data["id"]), str(data.get("body") or ""), url)

    def first_page(self) -> dict[str, Any]:
        return {**_LISTING, "page": 1}

    def next_page(self, answer: Answer) -> str | None:
        return next_page_url(answer, self.comments_url, _LISTING)

    def entries(self, answer: Answer) -> list[Any]:
        return answer.data if isinstance(answer.data, list) else []


class GitLabForge(RestForge):
    """`forges.interface.Forge` on GitLab: one project, one connected session."""

    name = "GitLab"
    fork_advice = "the report is in the job log and its artifacts (a fork's pipeline cannot write to the target)"
    comment_limit = MAX_NOTE_LENGTH
    status_noun = "commit status"

    def __init__(self, session: ForgeSession, settings: GitLabSettings) -> None:
        super().__init__(session, settings.project)
        self.settings = settings

    def thread(self, pr_number: int) -> NoteThread:
        return NoteThread(self.session, self.settings.project, pr_number, self.settings.web_url)

    def _mr_url(self, iid: int) -> str:
        return self.session.url(f"projects/{project_ref(self.settings.project)}/merge_requests/{int(iid)}")

    def pull_request_head(self, pr_number: int) -> str:
        answer = self.session.request("GET", self._mr_url(pr_number), action=f"read merge request !{pr_number}")
        sha = answer.data.get("sha") if isinstance(answer.data, dict) else None
        if not isinstance(sha, str):
            raise GitLabError(f"GitLab's merge request !{pr_number} has no head sha")
        return sha

    def set_status(
        self, sha: str, *, key: str, passed: bool, description: str, target_url: str | None
    ) -> StatusOutcome:
        check_commit_sha(sha)
        name = status_name(key)
        state = "success" if passed else "failed"
        payload: dict[str, Any] = {"state": state, "name": name, "description": cut(description, MAX_DESCRIPTION)}
        if target_url:
            payload["target_url"] = target_url
        if self.settings.ref:
            payload["ref"] = self.settings.ref
        if self.settings.pipeline_id is not None:
            payload["pipeline_id"] = self.settings.pipeline_id
        url = self.session.url(f"projects/{project_ref(self.settings.project)}/statuses/{sha}")
        return self.session.post_status(url, payload, sha=sha, name=name, state=state)
