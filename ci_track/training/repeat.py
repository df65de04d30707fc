"""`ci-track run --repeat N` / `--repeat auto --repeat-max M`: several training runs of one commit, one candidate.

Every attempt is a whole `ci-track run` (its own MLflow run, created, trained, finished) with:

- its own seed: attempt i (1-based) gets seed i, in the environment variable CI_TRACK_SEED and
  in every `{seed}` of an MLproject parameter value (`-P seed={seed}`), so the N runs differ in
  their seed and nothing else, and a champion trained with repeats used the same seeds;
- the tags `ci.repeat_group` (shared by the N runs: `compare` judges their mean and measures their
  spread, see ci_track/gate/noise_gate.py), `ci.attempt` (i) and `ci.seed`; when the group is
  done, each of its runs gets `ci.repeats` ("3 runs: decision clear after 3 runs").

`auto` trains once, then asks the gate after each attempt (the same `run_gate` as `compare`, so the
same champion, rules and noise) and trains again only while a gated decision is ambiguous
(ci_track/gate/repeats.py `next_repeat`), up to the maximum. A gate that cannot decide (no
champion, a server error while reading it) stops the repeats with the reason; it never fails the
run, whose exit code is the training's.

Exit code: each attempt's as today; the first attempt that fails (non-zero) stops the repeats and
its code is the run's, so a failing attempt fails the step. Otherwise 0.
"""

from __future__ import annotations

import dataclasses
import secrets
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ci_track.gate.noise_gate import ATTEMPT_TAG, REPEAT_GROUP_TAG, REPEATS_TAG, SEED_TAG
from ci_track.gate.repeats import RepeatStep, next_repeat
from ci_track.gate.tolerance import RepeatPolicy

SEED_VARIABLE = "CI_TRACK_SEED"
SEED_PLACEHOLDER = "{seed}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Attempt:
    number: int  # 1-based
    seed: int
    run_id: str | None
    exit_code: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class RepeatOutcome:
    attempts: tuple[Attempt, ...]
    reason: str  # why it stopped, in words

    @property
    def exit_code(self) -> int:
        return next((a.exit_code for a in self.attempts if a.exit_code != 0), 0)

    @property
    def summary(self) -> str:
        runs = len(self.attempts)
        return f"{runs} run{'s' if runs != 1 else ''}: {self.reason}"


def with_seed(params: Sequence[str], seed: int) -> list[str]:
    """`-P KEY=VALUE` items with each `{seed}` in a value replaced by the attempt's seed."""
    out = []
    for item in params:
        key, sep, value = item.partition("=")
        out.append(f"{key}{sep}{value.replace(SEED_PLACEHOLDER, str(seed))}" if sep else item)
    return out


def new_group(head_sha: str | None) -> str:
    """A repeat group name: the commit's short SHA and 8 random hex digits (two re-runs of a job stay apart)."""
    return f"{(head_sha or 'local')[:12]}-{secrets.token_hex(4)}"


def run_repeats(
    policy: RepeatPolicy,
    *,
    group: str,
    train: Callable[[int, Mapping[str, str], Mapping[str, str]], tuple[int, str | None]],
    judge: Callable[[str], Sequence[Any]] | None,
    tag: Callable[[str, str, str], None],
) -> RepeatOutcome:
    """Train `policy`'s runs; `train(seed, extra_env, extra_tags)` -> (exit code, run id) runs one attempt.

    `judge(run_id)` (auto only) returns the gate's noise decisions for the group so far (empty:
    nothing to decide); `tag(run_id, key, value)` records `ci.repeats` on each run at the end.
    """
    maximum = policy.maximum if policy.auto else policy.runs
    assert maximum is not None
    attempts: list[Attempt] = []
    reason = f"the configured {maximum} runs"
    for number in range(1, maximum + 1):
        seed = number
        code, run_id = train(
            seed,
            {SEED_VARIABLE: str(seed)},
            {REPEAT_GROUP_TAG: group, ATTEMPT_TAG: str(number), SEED_TAG: str(seed)},
        )
        attempts.append(Attempt(number=number, seed=seed, run_id=run_id, exit_code=code))
        if code != 0:
            reason = f"attempt {number} failed with exit code {code}; no more attempts"
            break
        if not policy.auto:
            continue
        step = _step(judge, run_id, number, maximum)
        _say(f"repeat auto: {step.reason}")
        reason = step.reason
        if not step.again:
            break
    outcome = RepeatOutcome(attempts=tuple(attempts), reason=reason)
    for attempt in attempts:
        if attempt.run_id:
            tag(attempt.run_id, REPEATS_TAG, outcome.summary)
    _say(f"repeat group {group}: {outcome.summary}")
    return outcome


def _step(judge: Callable[[str], Sequence[Any]] | None, run_id: str | None, runs: int, maximum: int) -> RepeatStep:
    from ci_track.errors import CiTrackError

    if runs >= maximum:
        return next_repeat([], runs, maximum)
    if judge is None or run_id is None:
        return RepeatStep(again=False, runs=runs, reason="nothing to decide (no gate)")
    try:
        decisions = judge(run_id)
    except CiTrackError as error:  # the gate cannot decide now: stop, the training itself succeeded
        return RepeatStep(again=False, runs=runs, reason=f"the gate could not decide ({error}); stopped")
    return next_repeat(list(decisions), runs, maximum)


def _say(message: str) -> None:
    print(f"ci-track: {message}", file=sys.stderr, flush=True)
