"""What `ci-track run` executes: the training plan (an argv, or an MLproject entry point's shell command).

commands/run.py builds the plan from the command line (`plan_training`) before anything is created
on the tracking server, so a command that cannot start fails with exit 2 and leaves no run behind.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from ci_track.errors import UsageError


class TrainingPlan:
    """What to execute: an argv, or a shell command built from an MLproject entry point."""

    def __init__(
        self,
        *,
        argv: Sequence[str],
        source_name: str,
        params: Mapping[str, str] | None = None,
        entry_point: str | None = None,
        workdir: Path,
    ) -> None:
        self.argv = list(argv)
        self.source_name = source_name
        self.params = dict(params or {})
        self.entry_point = entry_point
        self.workdir = workdir


def check_executable(program: str, *, cwd: Path) -> None:
    """Refuse a command that cannot start before a run is created for it (no run is left RUNNING)."""
    if os.sep not in program:
        if shutil.which(program) is None:
            raise UsageError(f"command not found: {program!r}")
        return
    path = cwd / program
    if not path.is_file():
        raise UsageError(f"command not found: {program!r}")
    if not os.access(path, os.X_OK):
        raise UsageError(
            f"command is not executable: {program!r} (run it through its interpreter, e.g. bash {program})"
        )
