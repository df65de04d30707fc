"""Where the report goes on the forge: the sticky PR comment, the commit status, the check run.

`compare` and `comment` both publish through `publish_to_forge`, so the GitHub Action, GitLab CI,
Bitbucket Pipelines and Jenkins get the same comment and status. `plan_publication` decides what to
post (pure); `choose_forge` says which forge (GitHub, GitLab, Bitbucket or none) from `--forge`,
CI_TRACK_FORGE, else the CI that runs the build; `open_forge` is the one place a forge client is
built; the posting itself speaks only `forges.interface.Forge`. Failures follow the gate's rules: a
read-only token (403: a fork's PR) is a warning (on GitHub Actions also a `::warning::` annotation);
GitLab or Bitbucket without a token is a warning (a fork's pipeline has none; the report stays in
the job log); any other failure to post is a ForgeError (exit 3). Everything is published under the
report's key (`Publication.key`: `--key`, `report.key`, else the experiment): the comment's marker
and the status context `ci-track/<key>`. When the forge refuses to overwrite another job's report
under the same key (SharedKeyError, report/metadata.py) the commit status of that key is set to
failure before the error propagates; as every job sets its status before it posts its comment,
that failure is the key's last status, so a required check never ends on the other job's success.
The job summary, step outputs and annotations are the CI's side (ci/github_actions.py).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ci_track.errors import SharedKeyError, UsageError
from ci_track.secrets import redact
from ci_track.vocabulary import COMMENT_MODES

if TYPE_CHECKING:
    from ci_track.forges.interface import Forge, StatusOutcome


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
    forge: str = "github"  # github | gitlab | bitbucket | none (choose_forge)
    build_url: str | None = None  # the CI build: where a Bitbucket build status links without a run URL
    key: str | None = None  # the report key (comment marker, status context); None: the experiment

    @property
    def report_key(self) -> str:
        return self.key or self.experiment


def warn(message: str, environ: Mapping[str, str] | None = None) -> None:
    """A warning on stderr; on GitHub Actions also a `::warning::` annotation (shown on the run's page)."""
    print(f"ci-track: warning: {redact(message)}", file=sys.stderr, flush=True)
    if environ is not None:
        from ci_track.ci.github_actions import print_annotations

        print_annotations(environ, [("warning", redact(message))])


FORGE_NAMES = {"github": "GitHub", "gitlab": "GitLab", "bitbucket": "Bitbucket"}


def choose_forge(
    environ: Mapping[str, str], provider: str, *, flag: str | None = None, repo_url: str | None = None
) -> str:
    """github | gitlab | bitbucket | none: `--forge`, else CI_TRACK_FORGE, else the CI's own forge.

    Jenkins builds any forge's repository: its clone URL's host decides (gitlab / bitbucket in the
    host name), GitHub otherwise, as before there were other forges.
    """
    from ci_track.settings import forge_override

    chosen = flag or forge_override(environ)
    if chosen:
        return chosen
    if provider in ("gitlab", "bitbucket"):
        return provider
    host = (repo_url or "").split("://", 1)[-1].split("/", 1)[0].lower()
    if provider == "jenkins" and "bitbucket" in host:
        return "bitbucket"
    if provider == "jenkins" and "gitlab" in host:
        return "gitlab"
    return "github"


def note_missing_token(environ: Mapping[str, str], forge: str, *, is_pull_request: bool) -> None:
    """On a GitLab MR or Bitbucket PR without a token (a fork's pipeline, a forgotten variable), say why
    nothing is posted; GitHub's default stays silent, as it always was."""
    if is_pull_request and forge in ("gitlab", "bitbucket"):
        from ci_track.settings import missing_token_message

        warn(f"{missing_token_message(environ, forge)}: the report is not posted to {FORGE_NAMES[forge]}")


def open_forge(environ: Mapping[str, str], publication: Publication) -> Forge:
    """The forge the report goes to, connected (the one place a forge client is built)."""
    if publication.forge == "gitlab":
        from ci_track.forges import gitlab
        from ci_track.settings import GitLabSettings

        gitlab_settings = GitLabSettings.from_env(
            environ, project=publication.repository, head_sha=publication.head_sha
        )
        return gitlab.GitLabForge(gitlab.connect(gitlab_settings), gitlab_settings)
    if publication.forge == "bitbucket":
        from ci_track.forges import bitbucket
        from ci_track.settings import BitbucketSettings

        bitbucket_settings = BitbucketSettings.from_env(
            environ, repository=publication.repository, build_url=publication.build_url
        )
        return bitbucket.BitbucketForge(bitbucket.connect(bitbucket_settings), bitbucket_settings)
    from ci_track.forges.github import GitHubForge
    from ci_track.forges.github_api import connect
    from ci_track.settings import GitHubSettings

    settings = GitHubSettings.from_env(
        environ,
        repository=publication.repository,
        pr_number=publication.pr_number,
        head_sha=publication.head_sha,
    )
    return GitHubForge(connect(settings), settings.repository)


def publish_to_forge(
    publication: Publication,
    environ: Mapping[str, str],
    *,
    comment_mode: str,
    post_status: bool,
    post_check_run: bool = False,
    connect: Callable[[Mapping[str, str], Publication], Forge] = open_forge,
) -> dict[str, str]:
    """Post the sticky comment, the commit status and the check run. Returns outputs such as `comment-url`."""
    if comment_mode not in COMMENT_MODES:
        raise UsageError(f"--comment must be one of {', '.join(COMMENT_MODES)}, got {comment_mode!r}")
    plan = plan_publication(
        publication, comment_mode=comment_mode, post_status=post_status, post_check_run=post_check_run
    )
    if not plan.anything or publication.forge == "none":
        return {}
    from ci_track.settings import MissingForgeToken

    forge_name = FORGE_NAMES.get(publication.forge, publication.forge)
    if not publication.repository and publication.forge == "github":
        warn("no GitHub repository known (GITHUB_REPOSITORY or the git remote): nothing posted to GitHub")
        return {}
    try:
        forge = connect(environ, publication)
    except MissingForgeToken as missing:
        # a fork's pipeline never gets the project's secrets: the report stays in the job log and artifacts
        warn(f"{missing}: nothing posted to {forge_name}")
        return {}
    try:
        return _post(forge, publication, plan, environ)
    finally:
        forge.close()


@dataclasses.dataclass(frozen=True)
class PublicationPlan:
    """What to post for one report (pure: `plan_publication` decides it from the publication and the choices)."""

    comment_mode: str | None  # None: no comment
    status: bool  # posted only when the head commit is known
    check_run: bool

    @property
    def anything(self) -> bool:
        return self.comment_mode is not None or self.status or self.check_run


def plan_publication(
    publication: Publication, *, comment_mode: str, post_status: bool, post_check_run: bool
) -> PublicationPlan:
    """A comment needs a PR and a mode other than `off` (a status and a check run are skipped later without a head)."""
    wants_comment = comment_mode != "off" and publication.pr_number is not None
    return PublicationPlan(comment_mode if wants_comment else None, post_status, post_check_run)


def _post(
    forge: Forge, publication: Publication, plan: PublicationPlan, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    outputs: dict[str, str] = {}
    key = publication.report_key
    if publication.require_pr_head and publication.pr_number is not None:
        actual = forge.pull_request_head(publication.pr_number)
        if not same_commit(actual, publication.head_sha or ""):
            raise UsageError(
                f"PR #{publication.pr_number}'s head is {actual[:12]}, but the report is for "
                f"{(publication.head_sha or '?')[:12]}: refusing to post it"
            )
    # The status before the comment: a job refused for sharing a key (below) sets `failure` after the other
    # job's comment, which that job posted after its own status, so the last status of the key is a failure.
    head_sha = publication.head_sha

    def set_status(passed: bool, description: str) -> StatusOutcome:
        assert head_sha is not None
        return forge.set_status(
            head_sha, key=key, passed=passed, description=description, target_url=publication.target_url
        )

    if plan.status and head_sha:
        status = set_status(publication.passed, publication.headline)
        if status.forbidden:
            warn(f"{forge.name} refused the commit status (read-only token): it was not set", environ)
    if plan.comment_mode is not None and publication.pr_number is not None:
        try:
            outcome = forge.post_sticky_comment(
                publication.pr_number, publication.markdown, key=key, mode=plan.comment_mode, passed=publication.passed
            )
        except SharedKeyError:
            if plan.status and head_sha:  # fail closed: the other job's success must not stand
                set_status(False, f"two jobs report as {key}: give each its own key")
            raise
        if outcome.forbidden:
            warn(f"{forge.name} refused the PR comment (read-only token, e.g. a fork PR): {forge.fork_advice}", environ)
        elif outcome.html_url:
            outputs["comment-url"] = outcome.html_url
    if plan.check_run and publication.head_sha:
        check = forge.create_check(
            publication.head_sha,
            key=key,
            passed=publication.passed,
            title=publication.headline,
            summary=publication.markdown,
            details_url=publication.target_url,
        )
        if check.action == "unsupported":
            warn(f"--check-run: {check.warning}", environ)
        elif check.forbidden:
            warn(f"{forge.name} refused the check run (it needs `checks: write`): it was not created", environ)
        elif check.html_url:
            outputs["check-run-url"] = check.html_url
    return outputs


def same_commit(actual: str, expected: str) -> bool:
    """Whether two SHAs name one commit: Bitbucket abbreviates its hashes (12 digits), a prefix must match."""
    actual, expected = actual.strip().lower(), expected.strip().lower()
    if not actual or not expected:
        return False
    shorter, longer = sorted((actual, expected), key=len)
    return len(shorter) >= 7 and longer.startswith(shorter)


def write_text(path: str | Path, text: str) -> None:
    target = Path(path)
    if target.parent and not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
