"""The human override (pure): a PR label that turns a failing gate into a pass, visibly.

The label (`override_label`, default `ci-track:accept-regression`; `--override-label`,
CI_TRACK_OVERRIDE_LABEL, the action's `override-label` input) is read **only from the event
payload** GitHub wrote for this build (GITHUB_EVENT_PATH's `pull_request.labels`, see
ci_track/ci/github_actions.py): adding a label needs triage rights on the base repository, so a
fork's author cannot set it, and nothing the PR's code controls (checked-out files, environment
variables a workflow fills from PR text) is consulted. Without a pull-request payload (a push, Jenkins,
GitLab, a local run) there are no labels and the gate is never overridden.

With the label on the PR a failing gate passes: the comparison's `accepted` notice is shown in the
PR comment, the console and the JSON report, and the run records who and when (tags
`ci.override_label`, `ci.override_by`, `ci.override_at`; who is the `sender` of the `labeled`
event that added this label, else "label present"). Removing the label restores the gate: the
`unlabeled` event re-runs the workflow (workflows/ listen to `labeled`/`unlabeled`), the label
is no longer in the payload, the gate fails again, and the run's override tags are replaced by
`ci.override_removed_at`. The label never hides the failures: the table still shows them.
"""

from __future__ import annotations

import dataclasses

from ci_track.ci.context import CIContext
from ci_track.gate.comparison import Comparison

OVERRIDE_TAGS = ("ci.override_label", "ci.override_by", "ci.override_at")
REMOVED_TAG = "ci.override_removed_at"


@dataclasses.dataclass(frozen=True, kw_only=True)
class OverrideState:
    label: str
    present: bool  # the label is on the PR, per the event payload
    who: str  # the sender of the labeled event that added it, else "label present"
    when: str  # ISO 8601, UTC: when this build saw it


def override_state(context: CIContext, label: str, *, now: str) -> OverrideState | None:
    """The override label's state for this build; None when the build has no pull-request payload."""
    if context.pr_labels is None:
        return None
    present = label in context.pr_labels
    who = "label present"
    event = context.label_event
    if present and event is not None and event.action == "labeled" and event.label == label and event.sender:
        who = event.sender
    return OverrideState(label=label, present=present, who=who, when=now)


def apply_override(comparison: Comparison, state: OverrideState | None) -> Comparison:
    """`comparison` with its regression accepted when the label is present; unchanged otherwise."""
    if state is None or not state.present or comparison.verdict != "regression":
        return comparison
    notice = (
        f"Regression accepted by the label {state.label} ({state.who}, {state.when}): the gate passes. "
        "Remove the label to restore the gate."
    )
    return dataclasses.replace(comparison, accepted=notice)


def override_tags(state: OverrideState) -> dict[str, str]:
    return dict(zip(OVERRIDE_TAGS, (state.label, state.who, state.when), strict=True))
