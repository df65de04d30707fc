"""`ci-track run --repeat`: the attempts of ci_track/training/repeat.py with this command's client and gate.

The command owns the client (one for all attempts) and, for `auto`, asks the same gate as
`ci-track compare` after each attempt (commands/_gate.py `run_gate` on the attempt's run, whose
repeat group holds the attempts so far).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ci_track.errors import UsageError
from ci_track.gate.tolerance import NoiseSpecError, RepeatPolicy


def repeat_policy(args: argparse.Namespace, configured: RepeatPolicy | None) -> RepeatPolicy | None:
    """`--repeat` (+ `--repeat-max`) over `run.repeat`; None (one run, as without it) for 1 run."""
    from ci_track.gate.noise_config import repeat_policy as parse

    policy = configured
    if args.repeat is not None:
        try:
            policy = parse(args.repeat, args.repeat_max, "--repeat")
        except NoiseSpecError as error:
            raise UsageError(str(error)) from None
    elif args.repeat_max is not None:
        raise UsageError("--repeat-max needs --repeat auto")
    if policy is None or (not policy.auto and policy.runs == 1):
        return None
    return policy


def run_with_repeats(
    args: argparse.Namespace,
    policy: RepeatPolicy,
    *,
    client: Any,
    environ: Mapping[str, str],
    cwd: Path,
    plan_for: Callable[[int], Any],
    execute: Callable[..., tuple[int, str | None]],
    context: Any,
) -> int:
    """The attempts; `plan_for(seed)` is the training plan with that seed, `execute` one TrainingRun."""
    from ci_track.tracking.tags import default_run_name
    from ci_track.training.repeat import new_group, run_repeats

    base_name = args.run_name or default_run_name(context) or "ci-track"
    counter = {"n": 0}

    def train(seed: int, env: Mapping[str, str], tags: Mapping[str, str]) -> tuple[int, str | None]:
        counter["n"] += 1
        return execute(
            plan=plan_for(seed), environ={**environ, **env}, run_name=f"{base_name} #{counter['n']}", tags=tags
        )

    judge = _judge(args, client, environ, cwd) if policy.auto else None
    outcome = run_repeats(policy, group=new_group(context.head_sha), train=train, judge=judge, tag=client.set_tag)
    return outcome.exit_code


def _judge(
    args: argparse.Namespace, client: Any, environ: Mapping[str, str], cwd: Path
) -> Callable[[str], Sequence[Any]]:
    from ci_track.commands._gate import GateRequest, prepare_gate, run_gate

    def judge(run_id: str) -> Sequence[Any]:
        request = GateRequest(
            config_path=args.config,
            overrides={"experiment": args.experiment},
            run_id=run_id,
            tracking_uri=args.tracking_uri,
        )
        context, rules = prepare_gate(request, environ, cwd)
        outcome = run_gate(client, request, context, rules)
        return [m.noise.decision for m in outcome.comparison.gated if m.noise is not None]

    return judge
