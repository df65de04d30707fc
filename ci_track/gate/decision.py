"""What the gate decides once the comparison is made (pure): the exit code, what to publish, what to annotate.

`decide` is the whole "comment or not, status or not" question, answered from plain values:
explicit choices (flags, CI_TRACK_*, .ci-track.yml) win; by default a pull request with a
repository and its forge's token at hand gets the sticky comment (`update`) and the commit status,
anything else gets neither. commands/_gate.py carries the decision out.
"""

from __future__ import annotations

import dataclasses

from ci_track.ci.context import CIContext
from ci_track.gate.config import Config
from ci_track.gate.results import Comparison


@dataclasses.dataclass(frozen=True, kw_only=True)
class Decision:
    passed: bool  # the gate's verdict: what the commit status and delete-on-pass follow
    exit_code: int  # what the command returns: 1 on a regression, 0 with --no-gate
    comment_mode: str  # update | new | delete-on-pass | off
    post_status: bool
    post_check_run: bool
    annotations: tuple[tuple[str, str], ...]  # (error | warning, message), one per judged metric
    outputs: dict[str, str]  # step outputs: verdict, regressions, headline


def gate_exit_code(comparison: Comparison, config: Config) -> int:
    """1 on a regression (or no champion with `no_champion: fail`), else 0."""
    return int(comparison.exit_code(config.no_champion))


def metric_annotations(comparison: Comparison) -> tuple[tuple[str, str], ...]:
    """One `error` per failed metric and one `warning` per warned one."""
    found = [("error", m.reason) for m in comparison.failures]
    found += [("warning", m.reason) for m in comparison.warnings]
    return tuple(found)


def publishing_choices(config: Config, context: CIContext, *, has_token: bool) -> tuple[str, bool]:
    """(comment mode, post the status?): explicit choices win; by default only on a GitHub PR with a token."""
    on_github_pr = context.pr_number is not None and bool(context.repository) and has_token
    comment = config.comment or ("update" if on_github_pr else "off")
    status = config.status
    if status is None:
        status = on_github_pr
    return comment, bool(status)


def decide(
    comparison: Comparison, config: Config, context: CIContext, *, has_token: bool, no_gate: bool, check_run: bool
) -> Decision:
    code = gate_exit_code(comparison, config)
    comment_mode, post_status = publishing_choices(config, context, has_token=has_token)
    return Decision(
        passed=code == 0,
        exit_code=0 if no_gate else code,
        comment_mode=comment_mode,
        post_status=post_status,
        post_check_run=check_run,
        annotations=metric_annotations(comparison),
        outputs={
            "verdict": comparison.verdict,
            "regressions": str(len(comparison.failures)),
            "headline": comparison.headline,
        },
    )
