"""`ci-track run`: one MLflow run for this commit, with its CI metadata, around the user's training command.

The run is created first; the command then runs with MLFLOW_TRACKING_URI, MLFLOW_RUN_ID and
MLFLOW_EXPERIMENT_ID set (what `mlflow run` does), so an unmodified script's
`mlflow.start_run()` resumes it. Afterwards the metrics files are logged and the final status
is set from the command's exit code. Results the server cannot take are spooled (see spool.py).
"""

from __future__ import annotations

import argparse
import getpass
import shlex
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ci_track.cli_values import parse_key_values
from ci_track.errors import ConfigError, UsageError
from ci_track.training.plan import TrainingPlan, check_executable

# What MLflow's start_run() raises when MLFLOW_RUN_ID's run is not in the experiment set_experiment() chose.
_MLFLOW_EXPERIMENT_MISMATCH = b"active experiment ID does not match environment run ID"


HELP = "create an MLflow run for this commit and run the training command inside it"
DESCRIPTION = (
    "Create an MLflow run tagged with this commit's CI metadata, run COMMAND (or an MLproject entry "
    "point) with MLFLOW_RUN_ID set so mlflow.start_run() attaches to it, log metrics files, and set the "
    "final status. Exit code: the command's own (with --repeat: the first failing attempt's, which "
    "stops the repeats)."
)
USAGE = (
    "ci-track run [options] -- COMMAND [ARG...]\n"
    "       ci-track run [options] --entry-point NAME [-P KEY=VALUE]... [--project-dir DIR]"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--experiment", help="experiment name (else CI_TRACK_EXPERIMENT, .ci-track.yml, MLFLOW_EXPERIMENT_NAME)"
    )
    parser.add_argument("--run-name", help="run name (default: pr-N@sha or branch@sha)")
    parser.add_argument(
        "--metrics-file",
        action="append",
        default=[],
        metavar="PATH",
        help="JSON/YAML metrics file written by the command, logged afterwards (repeatable)",
    )
    parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="extra run tag (repeatable)")
    parser.add_argument("--config", metavar="PATH", help="configuration file (default: .ci-track.yml)")
    parser.add_argument("--tracking-uri", help="MLflow tracking server (default: MLFLOW_TRACKING_URI)")
    parser.add_argument("--entry-point", help="run this MLproject entry point instead of COMMAND")
    parser.add_argument(
        "-P", "--param", action="append", default=[], metavar="KEY=VALUE", help="MLproject parameter (repeatable)"
    )
    parser.add_argument("--project-dir", default=".", help="directory holding the MLproject file (default: .)")
    parser.add_argument(
        "--repeat",
        metavar="N|auto",
        help="train N times (seeds 1..N in CI_TRACK_SEED and {seed}), one candidate; auto: until clear (run.repeat)",
    )
    parser.add_argument("--repeat-max", type=int, metavar="M", help="the most runs --repeat auto may take (required)")
    reuse = parser.add_mutually_exclusive_group()
    reuse.add_argument(
        "--reuse",
        action="store_true",
        default=None,
        help="skip the training when a complete run trained the same run.inputs (run.reuse; docs/reuse.md)",
    )
    reuse.add_argument("--no-reuse", dest="reuse", action="store_false", help="train even when reuse is configured")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the training command, after --")


def main(args: argparse.Namespace) -> int:
    from ci_track.ci.detect import detect_context
    from ci_track.gate.config import effective_config, require_experiment
    from ci_track.settings import TrackingSettings, environment
    from ci_track.tracking.client import MlflowClient

    environ = environment()
    cwd = Path.cwd()
    config = effective_config(args.config, cwd=cwd, cli={"experiment": args.experiment}, environ=environ)
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    from ci_track.commands._repeat import repeat_policy, run_with_repeats

    policy = repeat_policy(args, config.run.repeat)
    plan = plan_training(args, command, cwd=cwd) if policy is None else None  # with repeats: per seed, below
    experiment_name = require_experiment(config)
    metrics_files = [Path(p) for p in (*config.run.metrics_files, *args.metrics_file)]
    extra_tags = {**config.run.tags, **parse_key_values(args.tag, what="--tag")}
    if config.report.key:  # the key `compare` judges this run under: its own candidate, champion and history
        from ci_track.tracking.champion import KEY_TAG

        extra_tags[KEY_TAG] = config.report.key
    from ci_track.commands._reuse import (
        describe_repeat,
        fingerprint_training,
        reuse_source,
        reuse_wanted,
        with_reuse_tags,
    )

    reuse = reuse_wanted(args, config)
    context = detect_context(environ, cwd)
    settings = TrackingSettings.from_env(environ, uri=args.tracking_uri)

    def plan_for(seed: int) -> TrainingPlan:
        from ci_track.training.repeat import with_seed

        return plan_training(
            argparse.Namespace(**{**vars(args), "param": with_seed(args.param, seed)}), command, cwd=cwd
        )

    # With repeats, seed 1's plan: bad -P values fail before any run is created, and it is what the
    # fingerprint names (the other seeds follow from it and the repeat setting).
    first_plan = plan if plan is not None else plan_for(1)
    fingerprint = fingerprint_training(
        config,
        cwd=cwd,
        environ=environ,
        plan=first_plan,
        repeat=describe_repeat(policy),
        metrics_files=metrics_files,
        announce=reuse,
    )
    extra_tags = with_reuse_tags(extra_tags, fingerprint)
    with MlflowClient(settings) as client:
        experiment = client.get_or_create_experiment(experiment_name)
        source = reuse_source(client, experiment, fingerprint, context) if reuse and fingerprint else None
        if policy is not None:  # several attempts, one candidate (ci_track/training/repeat.py)
            from ci_track.gate.noise_gate import SEED_TAG

            reusable = source.by_seed() if source else {}

            def execute(
                *, plan: TrainingPlan, environ: Mapping[str, str], run_name: str, tags: Mapping[str, str]
            ) -> tuple[int, str | None]:
                runner = TrainingRun(client=client, environ=environ, cwd=cwd, experiment=experiment)
                copied = reusable.get(int(tags.get(SEED_TAG) or 0))
                if copied is not None:  # this seed's attempt trained before with the same inputs
                    code = runner.reuse(
                        copied, plan=plan, context=context, run_name=run_name, extra_tags={**extra_tags, **tags}
                    )
                    return code, runner.last_run_id
                code = runner.execute(
                    plan=plan,
                    experiment_name=experiment_name,
                    context=context,
                    run_name=run_name,
                    extra_tags={**extra_tags, **tags},
                    metrics_files=metrics_files,
                )
                return code, runner.last_run_id

            return run_with_repeats(
                args,
                policy,
                client=client,
                environ=environ,
                cwd=cwd,
                plan_for=plan_for,
                execute=execute,
                context=context,
            )

        assert plan is not None
        runner = TrainingRun(client=client, environ=environ, cwd=cwd, experiment=experiment)
        if source is not None:
            return runner.reuse(
                source.runs[0], plan=plan, context=context, run_name=args.run_name, extra_tags=extra_tags
            )
        return runner.execute(
            plan=plan,
            experiment_name=experiment_name,
            context=context,
            run_name=args.run_name,
            extra_tags=extra_tags,
            metrics_files=metrics_files,
        )


def plan_training(args: argparse.Namespace, command: list[str], *, cwd: Path) -> TrainingPlan:
    """Validate what to run before anything is created on the server (bad input fails with exit 2)."""
    if args.entry_point:
        if command:
            raise UsageError("give either --entry-point or a command after --, not both")
        from ci_track.training.mlproject import load_project

        project_dir = (cwd / args.project_dir).resolve()
        project = load_project(project_dir)
        entry = project.entry_point(args.entry_point)
        shell_command, params = entry.build_command(parse_key_values(args.param, what="-P"))
        return TrainingPlan(
            argv=["bash", "-c", shell_command],
            source_name=f"MLproject:{args.entry_point}",
            params=params,
            entry_point=args.entry_point,
            workdir=project_dir,
        )
    if args.param:
        raise UsageError("-P/--param needs --entry-point (pass a command's own arguments after --)")
    if not command:
        raise UsageError("nothing to run: give a command after -- or --entry-point NAME")
    check_executable(command[0], cwd=cwd)
    return TrainingPlan(argv=command, source_name=shlex.join(command)[:500], workdir=cwd)


class TrainingRun:
    """Creates the run, runs the command inside it, and finishes the run (or spools what it could not send)."""

    def __init__(self, *, client: Any, environ: Mapping[str, str], cwd: Path, experiment: Any = None) -> None:
        self.client = client
        self.environ = environ
        self.cwd = cwd
        self.experiment = experiment  # looked up by execute() when not given
        self.last_run_id: str | None = None  # the run execute() created (for --repeat)

    def reuse(
        self,
        source: Any,
        *,
        plan: TrainingPlan,
        context: Any,
        run_name: str | None,
        extra_tags: Mapping[str, str],
    ) -> int:
        """Record this commit's run from `source`, which trained with the same fingerprint (commands/_reuse.py)."""
        from ci_track.commands._reuse import record_reused_run
        from ci_track.tracking.tags import default_run_name

        name = run_name or default_run_name(context)
        run_id, code = record_reused_run(
            self.client,
            self.environ,
            self.cwd,
            source,
            experiment=self.experiment,
            context=context,
            name=name,
            tags=self._tags(plan, context, name, extra_tags),
        )
        self.last_run_id = run_id
        return code

    def _tags(
        self, plan: TrainingPlan, context: Any, name: str | None, extra_tags: Mapping[str, str]
    ) -> dict[str, str]:
        from ci_track.secrets import redact
        from ci_track.tracking.tags import build_run_tags

        tags = build_run_tags(
            context,
            run_name=name,
            source_name=plan.source_name,
            user=context.actor or _local_user(),
            entry_point=plan.entry_point,
            extra=extra_tags,
        )
        # A token pasted into a command line or a --tag must not be stored in the run.
        return {key: redact(value, self.environ) for key, value in tags.items()}

    def execute(
        self,
        *,
        plan: TrainingPlan,
        experiment_name: str,
        context: Any,
        run_name: str | None,
        extra_tags: Mapping[str, str],
        metrics_files: Sequence[Path],
    ) -> int:
        experiment = self.experiment or self.client.get_or_create_experiment(experiment_name)
        from ci_track.tracking.tags import default_run_name

        name = run_name or default_run_name(context)
        tags = self._tags(plan, context, name, extra_tags)
        run = self.client.create_run(experiment.experiment_id, run_name=name, tags=tags)
        self.last_run_id = run.run_id
        if plan.params:
            self.client.log_batch(run.run_id, params=plan.params)
        run_url = self.client.run_url(experiment.experiment_id, run.run_id)
        _say(f"MLflow run {run.run_id} in experiment {experiment_name!r}: {run_url}")
        write_outputs(
            self.environ,
            self.cwd,
            provider=context.provider,
            values={"run-id": run.run_id, "run-url": run_url, "experiment-id": experiment.experiment_id},
        )

        child_env = {
            **self.environ,
            "MLFLOW_TRACKING_URI": self.client.uri,
            "MLFLOW_RUN_ID": run.run_id,
            "MLFLOW_EXPERIMENT_ID": experiment.experiment_id,
            "MLFLOW_EXPERIMENT_NAME": experiment_name,
            **self.client.child_credentials(),
        }
        from ci_track.settings import kill_grace
        from ci_track.training.process import StderrWatch, run_command

        watch = StderrWatch({"experiment-switch": _MLFLOW_EXPERIMENT_MISMATCH})
        exit_code, stopped_by = run_command(
            plan.argv, env=child_env, cwd=plan.workdir, grace=kill_grace(self.environ), stderr_watch=watch
        )
        if exit_code != 0 and "experiment-switch" in watch.seen:
            _say(
                f"the training script switched experiments (mlflow.set_experiment): MLflow cannot resume ci-track's "
                f"run in another experiment, and its hint about --experiment-name is for `mlflow run`. ci-track put "
                f"the run in experiment {experiment_name!r}: remove the set_experiment call (the script's "
                "mlflow.start_run() then attaches to the run), or give that experiment to ci-track instead: "
                "`ci-track run --experiment NAME` or `experiment:` in .ci-track.yml"
            )
        if stopped_by is not None:
            status = "KILLED"
        else:
            status = "FINISHED" if exit_code == 0 else "FAILED"

        metrics: list[dict[str, Any]] = []
        metrics_error: ConfigError | None = None
        from ci_track.training.metrics_file import metric_records

        for path in metrics_files:
            try:
                metrics.extend(metric_records(self.cwd / path))
            except ConfigError as error:
                metrics_error = error
        if metrics_error is not None and status == "FINISHED":
            status = "FAILED"
        end_tags: dict[str, str] = {}
        if stopped_by is not None:
            end_tags["ci.stopped_by"] = signal.Signals(stopped_by).name

        from ci_track.tracking.upload import finish_run

        finish_run(
            self.client,
            self.environ,
            self.cwd,
            run_id=run.run_id,
            metrics=metrics,
            tags=end_tags,
            status=status,
            # Written last, after the status: the mark of a complete run (see ci_track/tracking/champion.py).
            final_tags={"ci.exit_code": str(exit_code)},
        )
        if metrics_error is not None:
            # The reason first: "failed (exit code 0)" alone reads like a mystery, so it comes after.
            why = f"the command exited {exit_code}" + (", but a metrics file is unusable" if exit_code == 0 else "")
            metrics_error.follow_up = (f"ci-track: MLflow run {run.run_id} {status.lower()} ({why}): {run_url}",)
            raise metrics_error
        _say(f"MLflow run {run.run_id} {status.lower()} (exit code {exit_code}): {run_url}")
        if exit_code == 0 and not metrics:
            self._warn_if_no_metrics(run.run_id)
        return exit_code

    def _warn_if_no_metrics(self, run_id: str) -> None:
        """A run without metrics gives `compare` nothing to gate on: say how to log them (one request)."""
        from ci_track.errors import TrackingError

        try:
            logged = self.client.get_run(run_id).metrics
        except TrackingError:
            return  # only a hint: the run itself is complete, this check must not fail the step
        if not logged:
            _say(
                f"warning: run {run_id} has no metrics, so `ci-track compare` has nothing to gate on: log them "
                "from the script with mlflow.log_metric(...), or name the file it writes with --metrics-file PATH "
                "(or run.metrics_files in .ci-track.yml)"
            )


def write_outputs(environ: Mapping[str, str], cwd: Path, *, provider: str, values: Mapping[str, str]) -> None:
    """Hand the run id to the next CI step: GITHUB_OUTPUT on Actions, a properties file on Jenkins."""
    from ci_track.ci.github_actions import write_outputs as write_step_outputs
    from ci_track.jenkins.properties import properties_path, write_properties

    write_step_outputs(environ, values)
    if provider == "jenkins" or environ.get("CI_TRACK_PROPERTIES_FILE"):
        write_properties(properties_path(environ, cwd), values)


def _local_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _say(message: str) -> None:
    print(f"ci-track: {message}", file=sys.stderr, flush=True)
