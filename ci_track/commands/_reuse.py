"""`ci-track run --reuse`: the fingerprint of this training (git + training/fingerprint.py) and the one lookup.

`fingerprint_training` asks git (ci/git.py: one `ls-tree -r`, one `status`) about the declared
`run.inputs` at the checked-out commit and returns the fingerprint, or None with a one-line
notice when it cannot vouch for one (no repository, a clone without the objects, an untracked or
dirty input): then the run trains as before. Bad patterns are a UsageError (exit 2), raised
before any run is created. `find_reuse_source` is the lookup (tracking/reuse.py), sent only when
reuse is on; `record_reused_run` records the reused run (TrainingRun.reuse in commands/run.py calls it).
"""

from __future__ import annotations

import argparse
import posixpath
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ci_track.errors import UsageError


def reuse_wanted(args: argparse.Namespace, config: Any) -> bool:
    """`--reuse`/`--no-reuse` over `run.reuse`; reuse without declared inputs is a usage error."""
    wanted = bool(config.run.reuse) if args.reuse is None else bool(args.reuse)
    if wanted and not config.run.inputs:
        raise UsageError(
            "--reuse needs run.inputs in .ci-track.yml: the paths (and run.env_inputs: the variables) the "
            "training depends on"
        )
    return wanted


def describe_repeat(policy: Any) -> str:
    if policy is None:
        return "1"
    return f"auto, at most {policy.maximum}" if policy.auto else str(policy.runs)


def fingerprint_training(
    config: Any,
    *,
    cwd: Path,
    environ: Mapping[str, str],
    plan: Any,
    repeat: str,
    metrics_files: Sequence[Path],
    announce: bool,
) -> str | None:
    """The fingerprint of this training, or None when the inputs cannot vouch for one (with a notice when
    `announce`: reuse was asked for, so the reader learns why it trains)."""
    if not config.run.inputs:
        return None
    notice = _no_fingerprint if announce else _silent
    from ci_track.ci import git as git_repo
    from ci_track.training.fingerprint import TrainingIdentity, fingerprint, repo_pattern, resolve_inputs

    repo = git_repo.open_repo(cwd, environ)
    if repo is None:
        for pattern in config.run.inputs:
            repo_pattern(pattern, ".")  # an absolute path or ../ is wrong with or without git
        return notice("not a git repository, so the inputs have no git object ids")
    top = git_repo.work_tree(repo)
    commit = git_repo.head_sha(repo)
    if top is None or commit is None:
        return notice("no checked-out commit to read the inputs at")
    prefix = _relative(cwd.resolve(), top)
    if prefix is None:
        return notice("the directory is outside the repository's work tree")
    tree = git_repo.tree_entries(repo, commit)
    if tree is None:
        return notice(f"the clone lacks the git objects of commit {commit[:12]} (a shallow or partial clone)")
    status = git_repo.changed_paths(repo)
    if status is None:
        return notice("git cannot tell whether the inputs are committed")
    changed, untracked = status
    exists = {pattern: (cwd / pattern).exists() for pattern in config.run.inputs}  # a stat, no read
    resolved = resolve_inputs(
        config.run.inputs, prefix=prefix, tree=tree, changed=changed, untracked=untracked, exists=exists
    )
    if resolved.unusable is not None:
        return notice(resolved.unusable)
    workdir = _relative(Path(plan.workdir).resolve(), top)
    identity = TrainingIdentity(
        command=tuple(plan.argv),
        entry_point=plan.entry_point,
        params=plan.params,
        workdir=workdir if workdir is not None else str(plan.workdir),
        repeat=repeat,
        metrics_files=tuple(str(path) for path in metrics_files),
        key=config.report.key,
    )
    return fingerprint(
        patterns=resolved.patterns,
        files=resolved.files,
        env_names=config.run.env_inputs,
        environ=environ,
        identity=identity,
    )


def with_reuse_tags(extra_tags: Mapping[str, str], fingerprint: str | None) -> dict[str, str]:
    """The user's tags without the reuse tags (only ci-track sets those), plus this training's fingerprint."""
    from ci_track.tracking.reuse import FINGERPRINT_TAG, RESERVED_TAGS, TRAINING_TAG

    tags = {}
    for key, value in extra_tags.items():
        if key in RESERVED_TAGS:
            _say(f"warning: tag {key!r} is set by ci-track only (training reuse); ignoring the one given")
            continue
        tags[key] = value
    if fingerprint:
        tags.update({FINGERPRINT_TAG: fingerprint, TRAINING_TAG: "trained"})
    return tags


def reuse_source(client: Any, experiment: Any, fingerprint: str, context: Any) -> Any:
    """The run (or repeat group) to reuse: the one lookup (ci_track/tracking/reuse.py), None to train."""
    from ci_track.tracking.reuse import find_source

    source = find_source(client, experiment.experiment_id, fingerprint, context)
    if source is None:
        _say(f"training reuse: no complete training with fingerprint {fingerprint[:12]} in this experiment; training")
    return source


def record_reused_run(
    client: Any,
    environ: Mapping[str, str],
    cwd: Path,
    source: Any,
    *,
    experiment: Any,
    context: Any,
    name: str | None,
    tags: dict[str, str],
) -> tuple[str, int]:
    """This commit's run recorded from `source`, which trained with the same fingerprint: no training.

    The new run carries the source's params and metrics (with their histories) and points at it
    (`ci.reused_from`, `ci.reused_artifact_uri`); it ends as a trained run ends, so it is complete.
    Returns the new run's id and the exit code (0).
    """
    from ci_track.commands.run import write_outputs
    from ci_track.tracking.reuse import copy_attempt
    from ci_track.tracking.upload import finish_run

    # The description MLflow shows (markdown; a run id is hex, nothing to escape).
    tags["mlflow.note.content"] = (
        f"{tags.get('mlflow.note.content', '')} Training skipped: inputs unchanged since run {source.run_id}."
    ).strip()
    run, metrics = copy_attempt(client, source, experiment_id=experiment.experiment_id, run_name=name, tags=tags)
    run_url = client.run_url(experiment.experiment_id, run.run_id)
    source_url = client.run_url(experiment.experiment_id, source.run_id)
    _say(f"MLflow run {run.run_id} in experiment {experiment.name!r}: {run_url}")
    _say(f"training skipped: inputs unchanged since run {source.run_id}: {source_url}")
    write_outputs(
        environ,
        cwd,
        provider=context.provider,
        values={
            "run-id": run.run_id,
            "run-url": run_url,
            "experiment-id": experiment.experiment_id,
            "reused-from": source.run_id,
        },
    )
    finish_run(
        client,
        environ,
        cwd,
        run_id=run.run_id,
        metrics=metrics,
        tags={},
        status="FINISHED",
        final_tags={"ci.exit_code": "0"},  # the source's: only complete, successful runs are reused
    )
    _say(f"MLflow run {run.run_id} finished (the results of run {source.run_id}): {run_url}")
    return run.run_id, 0


def _relative(path: Path, top: Path) -> str | None:
    try:
        relative = path.relative_to(top)
    except ValueError:
        return None
    return posixpath.join(*relative.parts) if relative.parts else "."


def _silent(why: str) -> None:
    return None


def _no_fingerprint(why: str) -> None:
    _say(f"training reuse is off for this run: {why}; training")
    return None


def _say(message: str) -> None:
    print(f"ci-track: {message}", file=sys.stderr, flush=True)
