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
import re
from typing import Any
from urllib.parse import quote

from ci_track.errors import GitLabError, UsageError
from ci_track.forges import sticky
from ci_track.forges.interface import CheckRunOutcome, CommentOutcome, StatusOutcome
from ci_track.forges.rest import Answer, ForgeForbidden, ForgeSession, link_next
from ci_track.report.text import comment_marker, cut
from ci_track.settings import GitLabSettings
from ci_track.transport import RetryPolicy

MAX_NOTE_LENGTH = 1_000_000
MAX_DESCRIPTION = 255
PER_PAGE = 100
STATUS_PREFIX = "ci-track/"


def connect(settings: GitLabSettings, *, policy: RetryPolicy | None = None) -> ForgeSession:
    policy = policy or RetryPolicy(
        max_attempts=settings.http.max_attempts, max_wait=settings.http.max_wait, base_delay=1.0, max_delay=30.0
    )
    return ForgeSession(
        name="GitLab",
        base_url=settings.api_url,
        token=settings.token,
        policy=policy,
        timeout=settings.http.timeout,
        error=GitLabError,
        auth_advice="check CI_TRACK_GITLAB_TOKEN (a project or group access token with the api scope; "
        "CI_JOB_TOKEN cannot write notes)",
    )


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
class NoteThread:
    """The notes of one merge request (forges.sticky.Thread)."""

    session: ForgeSession
    project: str
    iid: int
    web_url: str | None = None  # the project's web address: a note's link is <it>/-/merge_requests/<iid>#note_<id>

    @property
    def _notes_url(self) -> str:
        return self.session.url(f"projects/{project_ref(self.project)}/merge_requests/{self.iid}/notes")

    def _where(self) -> str:
        return f"{self.project}!{self.iid}"

    def list(self) -> list[sticky.Comment]:
        params: dict[str, Any] = {"per_page": PER_PAGE, "sort": "asc", "order_by": "created_at"}
        first = self._notes_url
        found: list[sticky.Comment] = []
        for answer in self.session.pages(
            first,
            action=f"list the notes of {self._where()}",
            params={**params, "page": 1},
            next_url=lambda a: next_page_url(a, first, params),
        ):
            for note in answer.data if isinstance(answer.data, list) else []:
                if isinstance(note, dict) and not note.get("system") and isinstance(note.get("id"), int):
                    found.append(self._comment(note))
        return found

    def _comment(self, note: dict[str, Any]) -> sticky.Comment:
        url = f"{self.web_url}/-/merge_requests/{self.iid}#note_{int(note['id'])}" if self.web_url else None
        return sticky.Comment(int(note["id"]), str(note.get("body") or ""), url)

    def create(self, body: str) -> sticky.Comment:
        answer = self.session.request(
            "POST", self._notes_url, json={"body": body}, action=f"create the ci-track note on {self._where()}"
        )
        return self._comment(answer.data)

    def update(self, comment_id: int, body: str) -> sticky.Comment:
        answer = self.session.request(
            "PUT",
            f"{self._notes_url}/{int(comment_id)}",
            json={"body": body},
            action=f"update the ci-track note on {self._where()}",
        )
        return self._comment(answer.data)

    def delete(self, comment_id: int) -> None:
        self.session.request(
            "DELETE",
            f"{self._notes_url}/{int(comment_id)}",
            action=f"delete a ci-track note on {self._where()}",
            missing_ok=True,
        )


class GitLabForge:
    """`forges.interface.Forge` on GitLab: one project, one connected session."""

    name = "GitLab"
    fork_advice = "the report is in the job log and its artifacts (a fork's pipeline cannot write to the target)"

    def __init__(self, session: ForgeSession, settings: GitLabSettings) -> None:
        self.session = session
        self.settings = settings
        self.repository = settings.project

    def _mr_url(self, iid: int) -> str:
        return self.session.url(f"projects/{project_ref(self.settings.project)}/merge_requests/{int(iid)}")

    def pull_request_head(self, pr_number: int) -> str:
        answer = self.session.request("GET", self._mr_url(pr_number), action=f"read merge request !{pr_number}")
        sha = answer.data.get("sha") if isinstance(answer.data, dict) else None
        if not isinstance(sha, str):
            raise GitLabError(f"GitLab's merge request !{pr_number} has no head sha")
        return sha

    def post_sticky_comment(self, pr_number: int, body: str, *, key: str, mode: str, passed: bool) -> CommentOutcome:
        thread = NoteThread(self.session, self.settings.project, pr_number, self.settings.web_url)
        return sticky.post_sticky(
            thread, body, marker=comment_marker(key), mode=mode, passed=passed, limit=MAX_NOTE_LENGTH
        )

    def set_status(
        self, sha: str, *, key: str, passed: bool, description: str, target_url: str | None
    ) -> StatusOutcome:
        if not re.fullmatch(r"[0-9a-fA-F]{7,64}", sha or ""):
            raise UsageError(f"commit status needs a commit SHA, got {sha!r}")
        name = f"{STATUS_PREFIX}{key}"
        state = "success" if passed else "failed"
        payload: dict[str, Any] = {"state": state, "name": name, "description": cut(description, MAX_DESCRIPTION)}
        if target_url:
            payload["target_url"] = target_url
        if self.settings.ref:
            payload["ref"] = self.settings.ref
        if self.settings.pipeline_id is not None:
            payload["pipeline_id"] = self.settings.pipeline_id
        url = self.session.url(f"projects/{project_ref(self.settings.project)}/statuses/{sha}")
        try:
            self.session.request("POST", url, json=payload, action=f"set the {name} status on {sha[:12]}")
        except ForgeForbidden as exc:
            return StatusOutcome("forbidden", name, state, warning=str(exc))
        return StatusOutcome("created", name, state)

    def create_check(
        self, sha: str, *, key: str, passed: bool, title: str, summary: str, details_url: str | None
    ) -> CheckRunOutcome:
        return CheckRunOutcome("unsupported", warning="GitLab has no check runs: the commit status is the check")

    def close(self) -> None:
        self.session.close()
