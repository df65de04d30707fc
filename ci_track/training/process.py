"""Runs the training command: its own process group, signals forwarded, stderr passed through.

`run_command` starts the command with the environment the caller built (ci_track/commands/run.py:
the CI's environment plus MLFLOW_RUN_ID and friends), forwards SIGINT/SIGTERM to its whole group
and kills what is left after the grace period (CI_TRACK_KILL_GRACE, read in ci_track/settings.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from ci_track.errors import UsageError
from ci_track.settings import KILL_GRACE_SECONDS


class StderrWatch:
    """Passes the command's stderr through unchanged, byte for byte, and notes which known phrases it printed."""

    def __init__(self, phrases: Mapping[str, bytes]) -> None:
        self.phrases = dict(phrases)
        self.seen: set[str] = set()
        self._thread: threading.Thread | None = None

    def start(self, stream: IO[bytes]) -> None:
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[bytes]) -> None:
        sink = sys.stderr.buffer if hasattr(sys.stderr, "buffer") else None
        tail = b""
        longest = max((len(p) for p in self.phrases.values()), default=0)
        while chunk := stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536):
            if sink is not None:
                sink.write(chunk)
                sink.flush()
            window = tail + chunk
            self.seen.update(name for name, phrase in self.phrases.items() if phrase in window)
            tail = window[-longest:] if longest else b""

    def finish(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=2.0)  # a grandchild may keep the pipe open: never wait on it for long


def run_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    grace: float = KILL_GRACE_SECONDS,
    stderr_watch: StderrWatch | None = None,
) -> tuple[int, int | None]:
    """Run argv in its own process group; forward SIGINT/SIGTERM to the whole group.

    Returns (exit code, the signal that stopped ci-track or None). A command killed by a signal
    gets the shell convention 128 + signal number. After a forwarded signal, whatever is left in
    the group gets SIGKILL once the grace period is over, so no orphan process survives.
    With `stderr_watch`, the command's stderr goes through a pipe that copies it to ci-track's own.

    The handlers are installed before the command starts: a signal that arrives while it starts
    is forwarded as soon as it exists, and the command gets the default dispositions (a caught
    signal is reset at exec), even when ci-track was started with SIGINT ignored, as a shell does
    to background jobs; an ignored SIGINT would otherwise be inherited and make it uninterruptible.
    """
    received: list[int] = []
    first_signal_at: list[float] = []
    started: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        if not first_signal_at:
            first_signal_at.append(time.monotonic())
        if started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(started[0].pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            process = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
                stderr=subprocess.PIPE if stderr_watch is not None else None,
            )
        except FileNotFoundError:
            raise UsageError(f"command not found: {argv[0]!r}") from None
        except PermissionError:
            raise UsageError(f"command is not executable: {argv[0]!r}") from None
        started.append(process)
        if received:  # a signal came while the command was starting
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, received[0])
        if stderr_watch is not None and process.stderr is not None:
            stderr_watch.start(process.stderr)
        while True:
            try:
                process.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if first_signal_at and time.monotonic() - first_signal_at[0] > grace:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # stragglers the command left in its group
    if stderr_watch is not None:
        stderr_watch.finish()
    code = process.returncode
    if code < 0:
        code = 128 - code
    return code, (received[0] if received else None)
