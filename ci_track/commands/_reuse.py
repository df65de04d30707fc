"""`ci-track run --reuse`: the fingerprint of this training (git + training/fingerprint.py) and the one lookup.

`fingerprint_training` asks git (ci/git.py: one `ls-tree -r`, one `status`) about the declared
`run.inputs` at the checked-out commit and returns the fingerprint, or None with a one-line
notice when it cannot vouch for one (no repository, a clone without the objects, an untracked or
dirty input): then the run trains as before. Bad patterns are a UsageError (exit 2), raised
before any run is created. `find_reuse_source` is the lookup (tracking/reuse.py), sent only when
reuse is on; `commands/run.py` records the reused run.
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

    repo = git_repo.open_repo(cwd)
    if repo is None:
        for pattern in config.run.inputs:
            repo_pattern(pattern, ".")  # an absolute path or ../ is wrong with or without git
        return notice("not a git repository, so the inputs have no git object ids")
    try:
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
    finally:
        repo.close()


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
