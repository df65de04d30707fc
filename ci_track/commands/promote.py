"""`ci-track promote`: on a push to the base branch, make this commit's run the champion if it passes the gate."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "make this commit's run the champion (registry alias or ci.champion tag) if it passes the gate"
DESCRIPTION = (
    "Compare the run with the current champion under .ci-track.yml's rules; if it passes (or with "
    "--force) point the registry alias at it (registering a model version from the run's logged model) "
    "or, without champion.model, tag it ci.champion=true. The previous champion is recorded for rollback. "
    "With promote.require: improvement, only a run better than the champion by promote.min_improvement."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ci_track.commands.compare import add_gate_arguments

    add_gate_arguments(parser)
    parser.add_argument("--force", action="store_true", help="promote even if the run does not pass the gate")
    parser.set_defaults(comment="off", status=False)


def main(args: argparse.Namespace) -> int:
    from ci_track.ci.github_actions import write_outputs
    from ci_track.commands._gate import GateRequest, prepare_gate, run_gate
    from ci_track.errors import ExitCode
    from ci_track.settings import TrackingSettings, environment
    from ci_track.tracking.client import MlflowClient
    from ci_track.tracking.promotion import promote

    environ = environment()
    request = GateRequest.from_args(args)
    context, rules = prepare_gate(request, environ, Path.cwd())
    # one client for the gate and the promotion
    with MlflowClient(TrackingSettings.from_env(environ, uri=request.tracking_uri)) as client:
        outcome = run_gate(client, request, context, rules, for_promotion=True)
        comparison = outcome.comparison
        print(f"verdict: {comparison.headline}")
        if outcome.exit_code != 0 and not args.force:
            print(
                "ci-track: not promoted: the run does not pass the gate (use --force to promote anyway)",
                file=sys.stderr,
            )
            return int(ExitCode.REGRESSION)
        from ci_track.gate.promote_rule import refusal

        refused = refusal(outcome.config, outcome.evidence)  # promote.require: improvement
        if refused and not args.force:
            print(f"ci-track: not promoted: {refused} (use --force to promote anyway)", file=sys.stderr)
            return int(ExitCode.REGRESSION)
        candidate = comparison.candidate
        config = outcome.config
        result = promote(
            client,
            candidate,
            experiment_id=candidate.experiment_id,
            model=config.champion.model,
            alias=config.champion.alias,
            default_branch=outcome.context.default_branch,
        )
    where = (
        f"model {result.model} version {result.version} (@{result.alias}, champion of {candidate.branch})"
        if result.model
        else f"the ci.champion tag (champion of {candidate.branch})"
    )
    if result.already_champion:
        print(f"ci-track: run {candidate.run_id} is already the champion ({where})", file=sys.stderr)
    else:
        previous = f", replacing run {result.previous_run_id}" if result.previous_run_id else ""
        print(f"ci-track: promoted run {candidate.run_id} to champion via {where}{previous}", file=sys.stderr)
    write_outputs(
        environ,
        {"champion-run-id": candidate.run_id, **({"model-version": result.version} if result.version else {})},
    )
    return int(ExitCode.OK)
