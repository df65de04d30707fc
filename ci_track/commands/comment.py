"""`ci-track comment --report PATH`: post a report made earlier (the fork-safe second phase).

The report is the JSON `compare --json-output` wrote. In the fork-safe workflow pair it arrives
as an artifact built from untrusted PR code, so: the PR number must be a positive integer, the
head SHA must be hex and, with --expect-sha (the workflow_run's head SHA), must match it; the
markdown must carry ci-track's marker for its key (`key`, else the experiment) and fit a comment.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from ci_track.vocabulary import COMMENT_MODES

_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


HELP = "post a JSON report made earlier by `compare --json-output` as the sticky PR comment and status"
DESCRIPTION = "Post a report made earlier (e.g. downloaded from a pull_request workflow's artifact)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report", required=True, metavar="PATH", help="the JSON report from compare --json-output")
    parser.add_argument(
        "--mode",
        choices=COMMENT_MODES,
        default=None,
        help="comment mode (default: CI_TRACK_COMMENT, else update)",
    )
    parser.add_argument("--pr", type=int, help="the pull request number (default: the report's)")
    parser.add_argument("--repository", help="owner/name (default: GITHUB_REPOSITORY, else the report's)")
    parser.add_argument("--expect-sha", help="refuse a report whose head SHA differs (the workflow_run head SHA)")
    from ci_track.commands.compare import add_forge_argument

    add_forge_argument(parser)
    status = parser.add_mutually_exclusive_group()
    status.add_argument("--status", dest="status", action="store_true", default=True, help="set the commit status")
    status.add_argument("--no-status", dest="status", action="store_false", help="do not set the commit status")


def main(args: argparse.Namespace) -> int:
    from ci_track.ci.detect import detect_provider
    from ci_track.ci.github_actions import write_step_summary
    from ci_track.commands._publish import Publication, choose_forge, publish_to_forge
    from ci_track.errors import TOO_DEEP, ConfigError, ExitCode, UsageError
    from ci_track.report.text import comment_marker
    from ci_track.settings import environment

    environ = environment()
    path = Path(args.report)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"report {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"report {path} is not a JSON report: {error}") from None
    except RecursionError:
        raise ConfigError(f"report {path} is {TOO_DEEP}") from None
    if not isinstance(report, dict):
        raise ConfigError(f"report {path} is not a JSON report from `ci-track compare --json-output`")
    publishing: dict[str, Any] = report  # compare puts the publishing fields at the top level
    experiment = _text(report, "experiment", path)
    markdown = _text(publishing, "markdown", path)
    given = report.get("key")
    key: str = given if isinstance(given, str) and given else experiment  # version 2 reports name their key
    if comment_marker(key) not in markdown and f"<!-- ci-track:{key} -->" not in markdown:
        raise ConfigError(f"report {path}: the markdown lacks ci-track's marker for key {key!r}")
    pr_number = args.pr if args.pr is not None else publishing.get("pr_number")
    if not isinstance(pr_number, int) or isinstance(pr_number, bool) or pr_number <= 0:
        raise ConfigError(f"report {path}: no valid pull request number (pass --pr)")
    head_sha = str(publishing.get("head_sha") or "").lower()
    if head_sha and not _SHA.fullmatch(head_sha):
        raise ConfigError(f"report {path}: head SHA {head_sha[:80]!r} is not a commit SHA")
    if args.expect_sha and head_sha != args.expect_sha.lower():
        raise UsageError(f"report {path} is for commit {head_sha[:12] or '?'}, not {args.expect_sha[:12]}: refusing it")
    passed = publishing.get("gate_passed")
    if not isinstance(passed, bool):
        raise ConfigError(f"report {path}: no gate decision (gate_passed)")
    repository = args.repository or environ.get("GITHUB_REPOSITORY") or publishing.get("repository")
    headline = str(report.get("headline") or report.get("verdict") or "")[:140]
    publication = Publication(
        experiment=experiment,
        key=key,
        markdown=markdown,
        headline=headline,
        verdict=str(report.get("verdict", "")),
        passed=passed,
        repository=repository if isinstance(repository, str) else None,
        pr_number=pr_number,
        head_sha=head_sha or None,
        target_url=_candidate_url(report),
        require_pr_head=bool(args.expect_sha),
        forge=choose_forge(environ, detect_provider(environ), flag=args.forge),
    )
    write_step_summary(environ, markdown)
    mode = args.mode or environ.get("CI_TRACK_COMMENT") or "update"
    publish_to_forge(publication, environ, comment_mode=mode, post_status=args.status)
    print(f"ci-track: report for PR #{pr_number} posted ({mode})", file=sys.stderr)
    return int(ExitCode.OK)


def _text(report: dict[str, Any], key: str, path: Path) -> str:
    from ci_track.errors import ConfigError

    value = report.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"report {path} has no {key!r}: make it with `ci-track compare --json-output`")
    return value


def _candidate_url(report: dict[str, Any]) -> str | None:
    candidate = report.get("candidate")
    url = candidate.get("url") if isinstance(candidate, dict) else None
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else None
