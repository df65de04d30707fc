"""GitHub Actions: which build this is (the environment and the event payload), pure but for reading the
payload file. The step's side of the conversation (outputs, summary, annotations) is below it.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ci_track.ci.context import CIContext, LabelEvent, branch_from_ref, clean, dig, parse_pr_number
from ci_track.errors import TOO_DEEP, ContextError

GITHUB_PR_EVENTS = frozenset(
    {"pull_request", "pull_request_target", "pull_request_review", "pull_request_review_comment"}
)


_ZERO_SHA = re.compile(r"^0+$")


def read_github_event(environ: Mapping[str, str]) -> dict[str, Any]:
    """The webhook payload at GITHUB_EVENT_PATH.

    Pull request events cannot be tracked without it (the head SHA is only there), so for them
    a missing or unreadable file is a ContextError; other events fall back to the variables.
    """
    event = environ.get("GITHUB_EVENT_NAME", "")
    required = event in GITHUB_PR_EVENTS
    path = environ.get("GITHUB_EVENT_PATH", "")
    if not path:
        if required:
            raise ContextError(f"GITHUB_EVENT_PATH is not set on a {event} event: the PR head commit is in that file")
        return {}
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        if required:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
            reason = TOO_DEEP if isinstance(error, RecursionError) else reason
            raise ContextError(f"cannot read the {event} payload at GITHUB_EVENT_PATH={path}: {reason}") from None
        return {}
    if not isinstance(payload, dict):
        if required:
            raise ContextError(f"the payload at GITHUB_EVENT_PATH={path} is not a JSON object")
        return {}
    if required and not isinstance(payload.get("pull_request"), dict):
        raise ContextError(f"the {event} payload at GITHUB_EVENT_PATH={path} has no pull_request object")
    return payload


def pr_labels(pr: Mapping[str, Any]) -> tuple[str, ...]:
    """The label names of the payload's pull request (GitHub writes the payload: the override's trust source)."""
    labels = pr.get("labels")
    if not isinstance(labels, list):
        return ()
    return tuple(name for label in labels if isinstance(name := dig(label, "name"), str))


def label_event(payload: Mapping[str, Any]) -> LabelEvent | None:
    """The labeled/unlabeled event's label and sender, else None."""
    action = payload.get("action")
    name = dig(payload, "label", "name")
    if action not in ("labeled", "unlabeled") or not isinstance(name, str):
        return None
    return LabelEvent(action=action, label=name, sender=clean(dig(payload, "sender", "login")))


def github_context(environ: Mapping[str, str], payload: Mapping[str, Any]) -> CIContext:
    event = environ.get("GITHUB_EVENT_NAME") or "push"
    repository = clean(environ.get("GITHUB_REPOSITORY"))
    server_url = (clean(environ.get("GITHUB_SERVER_URL")) or "https://github.com").rstrip("/")
    run_id = clean(environ.get("GITHUB_RUN_ID"))
    attempt = clean(environ.get("GITHUB_RUN_ATTEMPT"))
    build_url = None
    if repository and run_id:
        build_url = f"{server_url}/{repository}/actions/runs/{run_id}/attempts/{attempt or '1'}"
    default_branch = clean(dig(payload, "repository", "default_branch"))
    github_sha = clean(environ.get("GITHUB_SHA"))
    common: dict[str, Any] = {
        "provider": "github-actions",
        "event": event,
        "repository": repository,
        "repo_url": f"{server_url}/{repository}" if repository else None,
        "build_url": build_url,
        "build_id": run_id,
        "run_attempt": attempt,
        "default_branch": default_branch,
        "actor": clean(environ.get("GITHUB_ACTOR")) or clean(dig(payload, "sender", "login")),
    }

    if event in GITHUB_PR_EVENTS:
        pr = payload["pull_request"]  # read_github_event guarantees it
        head_sha = clean(dig(pr, "head", "sha"))
        if not head_sha:
            raise ContextError(f"the {event} payload at GITHUB_EVENT_PATH has no pull_request.head.sha")
        number = pr.get("number", payload.get("number"))
        head_repo = dig(pr, "head", "repo", "full_name")
        base_repo = dig(pr, "base", "repo", "full_name")
        # A deleted fork shows head.repo as null: still not this repository.
        is_fork = head_repo != base_repo if base_repo else False
        # pull_request_target runs on the base branch tip: GITHUB_SHA is not a merge commit there.
        merge_sha = github_sha if event != "pull_request_target" and github_sha != head_sha else None
        return CIContext(
            **common,
            head_sha=head_sha,
            merge_sha=merge_sha,
            branch=clean(dig(pr, "head", "ref")) or clean(environ.get("GITHUB_HEAD_REF")),
            base_branch=clean(dig(pr, "base", "ref")) or clean(environ.get("GITHUB_BASE_REF")),
            base_sha=clean(dig(pr, "base", "sha")),
            pr_number=parse_pr_number(number, "pull_request.number in GITHUB_EVENT_PATH"),
            pr_title=pr.get("title") if isinstance(pr.get("title"), str) else None,
            is_fork=is_fork,
            pr_labels=pr_labels(pr),
            label_event=label_event(payload),
        )

    if event == "merge_group":
        group = payload.get("merge_group")
        if not isinstance(group, Mapping):
            group = {}
        head_ref = clean(group.get("head_ref")) or clean(environ.get("GITHUB_REF"))
        return CIContext(
            **common,
            head_sha=clean(group.get("head_sha")) or github_sha,
            branch=branch_from_ref(head_ref),
            base_branch=branch_from_ref(clean(group.get("base_ref"))) or default_branch,
            base_sha=clean(group.get("base_sha")),
        )

    if event == "push":
        after = clean(payload.get("after"))
        head_sha = after if after and not _ZERO_SHA.match(after) else github_sha
        ref = clean(payload.get("ref")) or clean(environ.get("GITHUB_REF"))
        return CIContext(**common, head_sha=head_sha, branch=branch_from_ref(ref), base_branch=default_branch)

    # workflow_dispatch, schedule, release, ...: the workflow runs on GITHUB_SHA at GITHUB_REF.
    ref = clean(environ.get("GITHUB_REF")) or clean(payload.get("ref"))
    return CIContext(**common, head_sha=github_sha, branch=branch_from_ref(ref), base_branch=default_branch)


# --- The step's side: outputs, job summary, annotations ------------------------------------


def write_outputs(environ: Mapping[str, str], values: Mapping[str, str | None]) -> None:
    """Append step outputs to GITHUB_OUTPUT (the one writer of that file); None values are left out.

    A multi-line value uses GitHub's heredoc syntax with a random delimiter, so no value can end
    the heredoc early and set another output.
    """
    path = environ.get("GITHUB_OUTPUT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        for key, value in values.items():
            if value is None:
                continue
            if "\n" in value or "\r" in value:
                delimiter = f"ci_track_eof_{secrets.token_hex(16)}"
                out.write(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")
            else:
                out.write(f"{key}={value}\n")


def write_step_summary(environ: Mapping[str, str], markdown: str) -> None:
    """Append the markdown report to the job summary (GITHUB_STEP_SUMMARY), when there is one."""
    path = environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(markdown.rstrip("\n") + "\n")


def command_data(text: str) -> str:
    """`text` as the data of a workflow command: it cannot end the command or start another one."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def print_annotations(environ: Mapping[str, str], annotations: Sequence[tuple[str, str]]) -> None:
    """`::error::` / `::warning::` workflow commands, on GitHub Actions only."""
    if environ.get("GITHUB_ACTIONS", "").lower() != "true":
        return
    for level, message in annotations:
        print(f"::{level} title=ci-track::{command_data(message)}", flush=True)
