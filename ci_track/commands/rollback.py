"""`ci-track rollback`: point the champion back at the one the last promote replaced."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "restore the previous champion"
DESCRIPTION = (
    "Move a branch's registry alias (or its ci.champion tag) back to the champion the last promote replaced. "
    "The branch: --branch, else the branch this build is on, else base_branch of .ci-track.yml, else the "
    "repository's default branch."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--branch", help="whose champion to roll back (default: this build's branch)")
    parser.add_argument("--config", metavar="PATH", help="configuration file (default: .ci-track.yml)")
    parser.add_argument("--experiment", help="experiment name (else CI_TRACK_EXPERIMENT, .ci-track.yml)")
    parser.add_argument("--tracking-uri", help="MLflow tracking server (default: MLFLOW_TRACKING_URI)")


def main(args: argparse.Namespace) -> int:
    from ci_track.ci.detect import detect_context
    from ci_track.errors import ExitCode, UsageError
    from ci_track.gate.config import effective_config, require_experiment
    from ci_track.settings import TrackingSettings, environment
    from ci_track.tracking.client import MlflowClient
    from ci_track.tracking.promotion import rollback

    environ = environment()
    cwd = Path.cwd()
    config = effective_config(args.config, cwd=cwd, cli={"experiment": args.experiment}, environ=environ)
    experiment_name = require_experiment(config)
    context = detect_context(environ, cwd)
    branch = args.branch or (context.branch if context.pr_number is None else None)
    branch = branch or config.base_branch or context.default_branch
    if not branch:
        raise UsageError("cannot tell whose champion to roll back: pass --branch")
    with MlflowClient(TrackingSettings.from_env(environ, uri=args.tracking_uri)) as client:
        experiment = client.get_experiment_by_name(experiment_name)
        if experiment is None:
            raise UsageError(f"experiment {experiment_name!r} does not exist on {client.uri}")
        result = rollback(
            client,
            experiment_id=experiment.experiment_id,
            model=config.champion.model,
            alias=config.champion.alias,
            branch=branch,
            default_branch=context.default_branch,
        )
    target = f"model {result.model} version {result.version}" if result.model else f"run {result.run_id}"
    print(f"ci-track: champion of {branch} rolled back to {target} (was run {result.previous_run_id})", file=sys.stderr)
    return int(ExitCode.OK)
