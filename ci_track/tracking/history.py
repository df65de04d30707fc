"""The runs the noise-aware gate reads besides the candidate and the champion: each a bounded search.

- `repeat_group(run)`: the complete runs recorded under the run's `ci.repeat_group` tag (one
  `ci-track run --repeat N`), at most MAX_REPEAT of them, in one `runs/search`; a run without the
  tag is its own group and costs nothing.
- `base_history(base_branch)`: the base branch's last HISTORY_RUNS complete runs (besides the
  candidate's and the champion's own runs), newest first, in
  ONE `runs/search` with the same filters as the champion's (ci_track/tracking/champion.py:
  complete, FINISHED, not made for a pull request); the noise estimate then keeps one run per set of
  training inputs (`distinct_inputs`). Excluding pull-request runs goes through
  `MlflowClient.search_runs_lacking`, so it works on MLflow 2.9+ (on servers before 3.11, whose
  search cannot say `IS NULL`, a few more pages at most, as for the champion).
- `recent_champions(base_branch, k)`: the base branch's last K promoted runs (tagged
  `ci.promoted_at` by `ci-track promote`, newest first), one search, plus one group search for
  each of them that has repeats.

So `compare` costs at most 3 + K more requests than before, whatever the size of the experiment
(the history only when a rule has a sigma part or the report charts it, the groups only for runs
that have repeats, the champions only with `max_drift`). The charts' trend reuses the same one
history search (`GatheredNoise.history`): a report with charts and sigma rules reads it once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from ci_track.gate.noise_config import MAX_REPEAT
from ci_track.gate.noise_gate import REPEAT_GROUP_TAG, REPEATS_TAG, NoiseEvidence, build_evidence, mean_run
from ci_track.tracking.champion import COMPLETE_FILTER, PR_TAG, is_complete, quote_filter_value, scope_filter
from ci_track.tracking.client import MlflowClient
from ci_track.tracking.reuse import FINGERPRINT_TAG
from ci_track.tracking.runs import Run

if TYPE_CHECKING:
    from ci_track.gate.config import Config

HISTORY_RUNS = 20  # base-branch runs for the history estimate (about 12.7 degrees of freedom)
PROMOTED_TAG = "ci.promoted_at"


def _tag(key: str) -> str:
    return f"tags.`{key}`"


def repeat_group(client: MlflowClient, experiment_id: str, run: Run) -> list[Run]:
    """`run` and the other complete runs of its repeat group, newest first (`run` itself when untagged)."""
    group = run.tags.get(REPEAT_GROUP_TAG)
    if not group:
        return [run]
    runs, _ = client.search_runs(
        [experiment_id],
        filter_string=f"{_tag(REPEAT_GROUP_TAG)} = {quote_filter_value(group)} and {COMPLETE_FILTER}",
        order_by=["attributes.start_time DESC"],
        max_results=MAX_REPEAT,
    )
    # Same commit only: a group tag copied onto another commit's run must not lend it its values.
    found = [r for r in runs if is_complete(r) and r.head_sha == run.head_sha]
    if all(r.run_id != run.run_id for r in found):
        found.insert(0, run)
    return found


def base_history(
    client: MlflowClient, experiment_id: str, base_branch: str | None, *, own: int = 0, key: str | None = None
) -> list[Run]:
    """The base branch's last HISTORY_RUNS complete runs that were not made for a pull request, newest first,
    plus `own` more: the candidate's and the champion's runs, which the caller leaves out (they are groups)."""
    if not base_branch:
        return []
    branch = scope_filter(base_branch, key)
    return client.search_runs_lacking(
        [experiment_id],
        tag=PR_TAG,
        filter_string=f"{branch} and {COMPLETE_FILTER}",
        order_by=["attributes.start_time DESC"],
        max_results=HISTORY_RUNS + own,
    )


def recent_champions(
    client: MlflowClient, experiment_id: str, base_branch: str | None, k: int, *, key: str | None = None
) -> list[list[Run]]:
    """The last `k` promoted runs of the base branch (under `key`), newest first, each with its repeat group."""
    if not base_branch or k < 1:
        return []
    branch = scope_filter(base_branch, key)
    runs, _ = client.search_runs(
        [experiment_id],
        filter_string=f"{branch} and {_tag(PROMOTED_TAG)} LIKE '%' and {COMPLETE_FILTER}",
        order_by=[f"{_tag(PROMOTED_TAG)} DESC", "attributes.start_time DESC"],
        max_results=k,
    )
    return [repeat_group(client, experiment_id, run) for run in runs if not run.tags.get(PR_TAG)]


def distinct_inputs(history: list[Run]) -> tuple[list[Run], int]:
    """The newest run of each `ci.fingerprint` (runs without one all kept), and how many were left out.

    Commits that did not touch the declared training inputs add no information about the noise: a run
    reused by `ci-track run --reuse` carries its trainer's numbers, and with reuse off a deterministic
    training retrained on the same inputs gives the same numbers, so either way they would read as
    commits with zero noise and shrink the estimate by how often docs change. Keeping the newest of
    each fingerprint gives the same sequence with reuse on or off: the same decision.
    """
    seen: set[str] = set()
    kept: list[Run] = []
    for run in history:  # newest first
        fingerprint = run.tags.get(FINGERPRINT_TAG)
        if fingerprint and fingerprint in seen:
            continue
        if fingerprint:
            seen.add(fingerprint)
        kept.append(run)
    return kept, len(history) - len(kept)


@dataclasses.dataclass(frozen=True, kw_only=True)
class GatheredNoise:
    candidate: Run  # the candidate run with each metric the mean over its repeat group
    champion: Run | None  # likewise
    evidence: NoiseEvidence
    notes: tuple[str, ...]  # for the report: how many runs each side is
    history: tuple[Run, ...] = ()  # the base branch's last complete runs (read for noise or for the charts)


def gather_evidence(
    client: MlflowClient,
    experiment_id: str,
    config: Config,
    candidate: Run,
    champion: Run | None,
    base_branch: str | None,
    *,
    prepare: Callable[[Run], Run],
    with_history: bool = False,
) -> GatheredNoise:
    """Everything the noise-aware gate reads, bounded (see the module docstring); `prepare` applies
    the rules' aggregates to each run of the candidate's and the champion's groups. `with_history`:
    read the base branch's history even when no rule needs the noise (the report's trend charts)."""
    candidate_runs = [prepare(run) for run in repeat_group(client, experiment_id, candidate)]
    champion_runs = [prepare(run) for run in repeat_group(client, experiment_id, champion)] if champion else []
    # The history only where a rule asks for noise ("3sigma"): fixed tolerances cost what they did.
    noisy = any(rule.noise is not None and rule.goal for rule in config.metrics.values())
    # The own runs the history search also finds (base-branch runs not made for a PR) are read on top.
    own = sum(1 for run in (*candidate_runs, *champion_runs) if run.branch == base_branch and PR_TAG not in run.tags)
    wanted = (noisy or with_history) and champion is not None
    key = config.report.key  # several models in one experiment: each its own history and champions
    history = base_history(client, experiment_id, base_branch, own=own, key=key) if wanted else []
    # the noise estimate only where a rule asks for it, one sample per set of training inputs
    base, repeated = distinct_inputs(history) if noisy else ([], 0)
    window = config.champion.drift_window
    drifting = any(rule.max_drift is not None for rule in config.metrics.values())
    recent = recent_champions(client, experiment_id, base_branch, window, key=key) if drifting else []
    evidence = build_evidence(
        config, candidate_runs, champion_runs, base, recent, drift_window=window if drifting else 0
    )
    notes = []
    if repeated:
        notes.append(
            f"{repeated} run(s) of the base branch's history left out of the noise estimate: "
            "the same training inputs as a newer run (ci.fingerprint)"
        )
    for role, runs in (("candidate", candidate_runs), ("champion", champion_runs)):
        group = runs[0].tags.get(REPEAT_GROUP_TAG) if runs else None
        if group:  # how many runs and why, as `ci-track run --repeat` recorded it
            why = next((run.tags[REPEATS_TAG] for run in runs if run.tags.get(REPEATS_TAG)), None)
            size = f"the mean of {len(runs)} runs" if len(runs) > 1 else "1 run"
            notes.append(f"the {role} is {size} of repeat group {group}" + (f" ({why})" if why else ""))
    prepared = next((run for run in candidate_runs if run.run_id == candidate.run_id), candidate_runs[0])
    champion_prepared = None
    if champion is not None:
        champion_prepared = next((run for run in champion_runs if run.run_id == champion.run_id), champion_runs[0])
        champion_prepared = mean_run(champion_prepared, champion_runs)
    return GatheredNoise(
        candidate=mean_run(prepared, candidate_runs),
        champion=champion_prepared,
        evidence=evidence,
        notes=tuple(notes),
        history=tuple(history),
    )


def best_by_mean_run(
    client: MlflowClient,
    experiment_id: str,
    candidate: Run,
    base_branch: str,
    metric: str,
    goal: str | None,
    *,
    key: str | None = None,
) -> tuple[Run, int] | None:
    """The `best` champion ranked by mean over repeats: among the base branch's last HISTORY_RUNS
    complete runs (one search), grouped by repeat group (else commit), the group with the best mean
    of `metric`, and its newest run; None when no run of the window has the metric."""
    from ci_track.gate.noise_gate import finite_values, group_by_repeat
    from ci_track.gate.repeats import best_by_mean

    history = base_history(client, experiment_id, base_branch, key=key)
    runs = [run for run in history if run.run_id != candidate.run_id]
    groups = [group for group in group_by_repeat(runs) if finite_values(group, metric)]
    if not groups:
        return None
    best = best_by_mean(
        [finite_values(group, metric) for group in groups], "maximize" if goal == "maximize" else "minimize"
    )
    return groups[best][0], len(groups[best])
