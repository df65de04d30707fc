"""`CIContext`, the provider-independent answer to "which build is this?", and the small cleaners the
providers share (pure). ci/detect.py picks the provider and fills it in.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from ci_track.errors import ContextError


@dataclasses.dataclass(frozen=True, kw_only=True)
class LabelEvent:
    action: str  # labeled | unlabeled
    label: str
    sender: str | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class CIContext:
    provider: str  # "github-actions" | "gitlab" | "bitbucket" | "jenkins" | "local"
    event: str  # "pull_request" | "push" | "schedule" | "workflow_dispatch" | "merge_group" | "manual" ...
    head_sha: str | None  # the commit the author wrote (PR head), never a synthetic merge commit
    merge_sha: str | None = None  # the synthetic merge commit the CI checked out, when there is one
    branch: str | None = None  # head branch (PR source branch on PRs), None on a detached tag build
    base_branch: str | None = None  # PR target branch; on pushes the repository's default branch if known
    base_sha: str | None = None  # merge-base of head and base branch (or the provider's best equivalent)
    pr_number: int | None = None
    pr_title: str | None = None  # untrusted: never put it in a shell or unescaped markdown
    is_fork: bool = False  # PR from another repository (read-only token on GitHub)
    repository: str | None = None  # "owner/name" on GitHub/GitLab, when known
    repo_url: str | None = None  # browsable URL, credentials stripped
    build_url: str | None = None
    build_id: str | None = None
    run_attempt: str | None = None
    job_name: str | None = None  # GitLab's CI_JOB_NAME (a matrix job's carries its values): told apart from a retry
    default_branch: str | None = None
    actor: str | None = None
    dirty: bool | None = None  # local only: uncommitted changes in the work tree
    # The PR's labels from the event payload (None: no pull-request payload): the override label's only source.
    pr_labels: tuple[str, ...] | None = None
    label_event: LabelEvent | None = None  # a labeled/unlabeled event: what changed and who did it

    @property
    def is_pull_request(self) -> bool:
        return self.pr_number is not None


FULL_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


DIGITS = re.compile(r"^[0-9]{1,18}$")


def clean(value: Any) -> str | None:
    """A stripped non-empty string, else None (CI systems set unused variables to "")."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def clean_url(value: str | None) -> str | None:
    cleaned = clean(value)
    return cleaned.rstrip("/") if cleaned else None


def dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def branch_from_ref(ref: str | None) -> str | None:
    """`refs/heads/x` -> `x`; tags and other refs have no branch."""
    if ref and ref.startswith("refs/heads/"):
        return ref[len("refs/heads/") :] or None
    return None


def parse_pr_number(value: Any, source: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    text = str(value).strip().lstrip("#") if value is not None else ""
    if not DIGITS.match(text) or int(text) <= 0:
        raise ContextError(f"{source} must be a positive pull request number, got {value!r}")
    return int(text)
