"""What ci-track asks of a code forge, whichever it is (GitHub, GitLab, Bitbucket).

The publishing step (commands/_publish.py) talks to a `Forge` only: the sticky comment on a pull
request, the commit status, the check run, and the PR's current head. An adapter (forges/github.py,
gitlab.py, bitbucket.py) implements it, translates its library's exceptions into `ForgeError`
subclasses at its boundary, and reports a refusal of a read-only token (a fork PR) as a
`forbidden` outcome, not an error. Every forge names its commit status `status_name`'s way.
Adding a forge: a module here with a class that satisfies `Forge`, and a branch in
`commands/_publish.open_forge` that builds it from the settings.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Literal, Protocol

from ci_track.errors import UsageError

STATUS_PREFIX = "ci-track/"  # every forge's commit status (GitHub: its context) is ci-track/<key>


def check_commit_sha(sha: str) -> None:
    """UsageError unless `sha` is a commit SHA (7 to 64 hex digits): a status is set on a commit."""
    if not re.fullmatch(r"[0-9a-fA-F]{7,64}", sha or ""):
        raise UsageError(f"commit status needs a commit SHA, got {sha!r}")


def status_name(key: str) -> str:
    """`ci-track/<key>`: the commit status of a report key on every forge (GitHub: its context, check run name)."""
    return f"{STATUS_PREFIX}{key}"


CommentAction = Literal["created", "updated", "unchanged", "deleted", "absent", "skipped", "forbidden"]


class _Refusable:
    """An outcome whose `action` may be `forbidden`: a read-only token's refusal (a warning, not a failure)."""

    action: str

    @property
    def forbidden(self) -> bool:
        return self.action == "forbidden"


@dataclasses.dataclass(frozen=True)
class CommentOutcome(_Refusable):
    """What `post_sticky_comment` did. `forbidden` is a warning for the caller, not a failure."""

    action: CommentAction
    comment_id: int | None = None
    html_url: str | None = None
    deleted: int = 0  # comments of ours removed: duplicates, or the old ones for `new`/`delete-on-pass`
    truncated: bool = False
    warning: str = ""


@dataclasses.dataclass(frozen=True)
class StatusOutcome(_Refusable):
    action: Literal["created", "forbidden"]
    context: str
    state: str
    warning: str = ""


@dataclasses.dataclass(frozen=True)
class CheckRunOutcome(_Refusable):
    action: Literal["created", "forbidden", "unsupported"]  # unsupported: the forge has no check runs
    check_run_id: int | None = None
    html_url: str | None = None
    truncated: bool = False
    warning: str = ""


class Forge(Protocol):
    """One repository on a code forge, with a client already connected (built in commands/)."""

    name: str  # shown in messages: "GitHub"
    repository: str  # "owner/name" (GitLab: the project's id or path, nested groups allowed)
    fork_advice: str  # where the report is when the forge refuses a read-only token (a fork's PR)

    def pull_request_head(self, pr_number: int) -> str:
        """The PR's current head commit (a report from an artifact must be for it)."""
        ...

    def post_sticky_comment(self, pr_number: int, body: str, *, key: str, mode: str, passed: bool) -> CommentOutcome:
        """Create, update or delete ci-track's one comment for `key` (the experiment) on the PR."""
        ...

    def set_status(
        self, sha: str, *, key: str, passed: bool, description: str, target_url: str | None
    ) -> StatusOutcome:
        """The commit status of `key` on `sha` (the PR head, never a merge commit)."""
        ...

    def create_check(
        self, sha: str, *, key: str, passed: bool, title: str, summary: str, details_url: str | None
    ) -> CheckRunOutcome:
        """A completed check carrying the markdown report."""
        ...

    def close(self) -> None: ...
