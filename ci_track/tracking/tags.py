"""The tags a CI run carries: MLflow's standard `mlflow.*` system tags plus ci-track's `ci.*` tags (pure).

Every tag is documented in README.md ("Run tags"). Values are untrusted text from the CI
environment: they are stored as they are (MLflow escapes them in its UI), except inside
`mlflow.note.content`, which MLflow renders as markdown and so gets escaped here.
"""

from __future__ import annotations

from collections.abc import Mapping

from ci_track.ci.context import CIContext
from ci_track.report.text import escape_inline


def default_run_name(context: CIContext) -> str | None:
    short = (context.head_sha or "")[:7]
    if context.pr_number is not None:
        return f"pr-{context.pr_number}@{short}" if short else f"pr-{context.pr_number}"
    if context.branch:
        return f"{context.branch}@{short}" if short else context.branch
    return short or None


def pull_request_url(context: CIContext) -> str | None:
    if context.pr_number is None or not context.repo_url:
        return None
    if context.provider == "gitlab":
        return f"{context.repo_url}/-/merge_requests/{context.pr_number}"
    if context.provider == "bitbucket":
        return f"{context.repo_url}/pull-requests/{context.pr_number}"
    return f"{context.repo_url}/pull/{context.pr_number}"


def build_run_tags(
    context: CIContext,
    *,
    run_name: str | None,
    source_name: str,
    user: str | None,
    entry_point: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """All tags for a new run; `extra` (user --tag and config tags) cannot override system tags."""
    tags: dict[str, str] = dict(extra or {})
    system: dict[str, str | None] = {
        "mlflow.runName": run_name,
        "mlflow.user": user,
        "mlflow.source.type": "PROJECT" if entry_point else "JOB",
        "mlflow.source.name": source_name,
        "mlflow.source.git.commit": context.head_sha,
        "mlflow.source.git.branch": context.branch,
        "mlflow.source.git.repoURL": context.repo_url,
        "mlflow.source.git.dirty": None if context.dirty is None else str(context.dirty).lower(),
        "mlflow.project.entryPoint": entry_point,
        "mlflow.note.content": note_content(context),
        "ci.provider": context.provider,
        "ci.event": context.event,
        "ci.pr_number": None if context.pr_number is None else str(context.pr_number),
        "ci.base_branch": context.base_branch,
        "ci.base_sha": context.base_sha,
        "ci.merge_sha": context.merge_sha,
        "ci.build_url": context.build_url,
        "ci.build_id": context.build_id,
        "ci.run_attempt": context.run_attempt,
        "ci.repository": context.repository,
        "ci.fork": "true" if context.is_fork else None,
    }
    tags.update({key: value for key, value in system.items() if value})
    return tags


def note_content(context: CIContext) -> str:
    """The run description MLflow shows (markdown): where the run came from, with links."""
    parts = [f"Tracked by ci-track ({escape_inline(context.provider)}"]
    if context.event:
        parts[0] += f", {escape_inline(context.event)}"
    parts[0] += ")"
    pr_url = pull_request_url(context)
    if context.pr_number is not None:
        label = f"PR #{context.pr_number}"
        parts.append(f"for [{label}]({pr_url})" if pr_url else f"for {label}")
        if context.pr_title:
            parts.append(f"“{escape_inline(context.pr_title)}”")
    if context.branch:
        parts.append(f"on branch {escape_inline(context.branch)}")
    if context.base_branch and context.pr_number is not None:
        parts.append(f"into {escape_inline(context.base_branch)}")
    if context.head_sha:
        parts.append(f"at commit {escape_inline(context.head_sha[:12])}")
    text = " ".join(parts) + "."
    if context.build_url:
        text += f" [CI build]({context.build_url})"
    return text
