"""Where the report goes: the sticky PR comment, the commit status, the job summary, step outputs, annotations.

`compare` and `comment` both publish through `publish_report`, so the GitHub Action, Jenkins and
GitLab-on-GitHub users get the same comment and status. Failures follow the gate's rules: a fork
PR's read-only token (403) is a warning; any other failure to post is a GitHubError (exit 3)
unless the comment mode is `off`.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from pathlib import Path

from ci_track.errors import UsageError
from ci_track.secrets import redact
from ci_track.vocabulary import COMMENT_MODES


@dataclasses.dataclass(frozen=True, kw_only=True)
class Publication:
    """Everything needed to publish one report, independent of how it was produced."""

    experiment: str
    markdown: str
    headline: str  # the verdict line: commit status description, build description
    verdict: str  # pass | regression | no-champion
    passed: bool  # the gate's decision (what delete-on-pass and the status state follow)
    repository: str | None
    pr_number: int | None
    head_sha: str | None
    target_url: str | None  # the candidate run in MLflow
    annotations: tuple[tuple[str, str], ...] = ()  # (error|warning|notice, message)
    # A report from an untrusted artifact: post only if the PR's head on GitHub is the report's commit.
    require_pr_head: bool = False


def warn(message: str) -> None:
    print(f"ci-track: warning: {redact(message)}", file=sys.stderr, flush=True)


def publish_to_github(
    publication: Publication,
    environ: Mapping[str, str],
    *,
    comment_mode: str,
    post_status: bool,
    post_check_run: bool = False,
) -> dict[str, str]:
    """Post the sticky comment, the commit status and the check run. Returns outputs such as `comment-url`."""
    from ci_track.forges import github as github_pr

    outputs: dict[str, str] = {}
    wants_comment = comment_mode != "off" and publication.pr_number is not None
    if comment_mode not in COMMENT_MODES:
        raise UsageError(f"--comment must be one of {', '.join(COMMENT_MODES)}, got {comment_mode!r}")
    if not wants_comment and not post_status and not post_check_run:
        return outputs
    if not publication.repository:
        warn("no GitHub repository known (GITHUB_REPOSITORY or the git remote): nothing posted to GitHub")
        return outputs
    settings = github_pr.GitHubSettings.from_env(
        environ,
        repository=publication.repository,
        pr_number=publication.pr_number,
        head_sha=publication.head_sha,
    )
    with github_pr.connect(settings) as gh:
        if publication.require_pr_head and publication.pr_number is not None:
            actual = github_pr.pull_request_head_sha(gh, publication.repository, publication.pr_number)
            if actual.lower() != (publication.head_sha or "").lower():
                raise UsageError(
                    f"PR #{publication.pr_number}'s head is {actual[:12]}, but the report is for "
                    f"{(publication.head_sha or '?')[:12]}: refusing to post it"
                )
        if wants_comment:
            assert publication.pr_number is not None
            outcome = github_pr.post_sticky_comment(
                gh,
                publication.repository,
                publication.pr_number,
                publication.markdown,
                marker=github_pr.comment_marker(publication.experiment),
                mode=comment_mode,
                passed=publication.passed,
            )
            if outcome.forbidden:
                warn(
                    "GitHub refused the PR comment (read-only token, e.g. a fork PR): the report is in the job "
                    "summary; use the fork-safe workflow pair to comment"
                )
            elif outcome.html_url:
                outputs["comment-url"] = outcome.html_url
        if post_status and publication.head_sha:
            status = github_pr.set_commit_status(
                gh,
                publication.repository,
                publication.head_sha,
                state="success" if publication.passed else "failure",
                context=github_pr.status_context(publication.experiment),
                description=publication.headline,
                target_url=publication.target_url,
            )
            if status.forbidden:
                warn("GitHub refused the commit status (read-only token): it was not set")
        if post_check_run and publication.head_sha:
            check = github_pr.create_check_run(
                gh,
                publication.repository,
                publication.head_sha,
                name=github_pr.status_context(publication.experiment),
                conclusion="success" if publication.passed else "failure",
                title=publication.headline,
                summary=publication.markdown,
                details_url=publication.target_url,
            )
            if check.action == "forbidden":
                warn("GitHub refused the check run (it needs `checks: write`): it was not created")
            elif check.html_url:
                outputs["check-run-url"] = check.html_url
    return outputs


def write_text(path: str | Path, text: str) -> None:
    target = Path(path)
    if target.parent and not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
