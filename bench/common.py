"""What every benchmark shares: the Figure record, wall-clock timing of commands, paths and the machine's facts.

A benchmark module exposes `run(ctx: BenchContext) -> list[Figure]`; `run_all.py` collects the
figures and writes the table. Timings are medians of whole processes started the way a CI step
starts them (fork + exec + interpreter start + imports + work), never in-process loops.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "bench"
CACHE_DIR = BENCH_DIR / ".cache"
VENV_BIN = Path(sys.executable).parent
CI_TRACK = str(VENV_BIN / "ci-track")


@dataclasses.dataclass
class Figure:
    """One row of RESULTS.md. Values are numbers in `unit`; None means not measured (see `error`)."""

    name: str
    ci_track: float | None
    unit: str  # "s", "MB", "requests", ...
    comparison: float | None = None
    comparison_label: str = ""  # what the comparison is: "python -c 'import mlflow'"
    goal: str = ""  # in words, as in issue 7
    met: bool | None = None  # None: no goal, or not measurable
    ratio: float | None = None  # ci-track / comparison unless the benchmark says otherwise
    ratio_label: str = ""  # what the ratio is, when not ci-track / comparison
    note: str = ""  # how it was measured, or why a goal is missed and what would close it
    error: str = ""  # the benchmark could not measure this figure
    samples: list[float] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.ratio is None and self.ci_track is not None and self.comparison:
            self.ratio = self.ci_track / self.comparison


def failed(name: str, unit: str, error: str, *, goal: str = "", comparison_label: str = "") -> Figure:
    """A figure the benchmark could not measure: the table says so rather than dropping the row."""
    return Figure(name, None, unit, goal=goal, comparison_label=comparison_label, error=_one_line(error))


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclasses.dataclass
class BenchContext:
    """Settings of one benchmark session, handed to every benchmark module."""

    scale: float  # multiplies the experiment sizes (1.0 = the sizes of issue 7)
    repeat: int  # runs per timing median
    work: Path  # scratch directory for this session (servers, venvs), removed afterwards
    log: Callable[[str], None] = print
    resources: contextlib.ExitStack = dataclasses.field(default_factory=contextlib.ExitStack)
    _empty_server: Any = None

    def size(self, full: int) -> int:
        return max(20, round(full * self.scale))

    def empty_server(self) -> Any:
        """One real MLflow server with an empty store, shared by the benchmarks that only write runs."""
        if self._empty_server is None:
            from tests.mlflow_server import running_server

            self.log("  starting an MLflow server (empty sqlite store)")
            self._empty_server = self.resources.enter_context(running_server(self.work / "server-empty"))
        return self._empty_server

    def close(self) -> None:
        self.resources.close()


class CommandFailed(RuntimeError):
    pass


def clean_env(**overrides: str) -> dict[str, str]:
    """The environment of a CI step that has not set anything of ours: no MLflow, CI or ci-track variables."""
    from tests.cli_helpers import scrubbed_environ  # the tests' one rule for what a CI variable is

    env = scrubbed_environ()
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["CI"] = "true"
    env.update(overrides)
    return env


def run_once(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    ok_codes: Sequence[int] = (0,),
    timeout: float = 600,
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Wall time of one process, from fork to exit; raises CommandFailed on an unexpected exit code."""
    started = time.perf_counter()
    completed = subprocess.run(
        list(argv),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if completed.returncode not in ok_codes:
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
        raise CommandFailed(f"`{' '.join(argv)}` exited {completed.returncode}: {' | '.join(tail)}")
    return elapsed, completed


def time_command(
    argv: Sequence[str],
    *,
    repeat: int,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    ok_codes: Sequence[int] = (0,),
    warmup: int = 1,
) -> list[float]:
    """Wall times of `repeat` runs after `warmup` unmeasured ones (warm page cache, as on a second CI step)."""
    for _ in range(warmup):
        run_once(argv, env=env, cwd=cwd, ok_codes=ok_codes)
    return [run_once(argv, env=env, cwd=cwd, ok_codes=ok_codes)[0] for _ in range(repeat)]


@dataclasses.dataclass(frozen=True)
class Command:
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    ok_codes: Sequence[int] = (0,)


def time_interleaved(commands: Mapping[str, Command], *, repeat: int, warmup: int = 1) -> dict[str, list[float]]:
    """Wall times of several commands, taken in rounds (A B C, B C A, ...) rather than one block each.

    On a shared machine the load changes by the minute; interleaving spreads it over every command,
    so ratios between them stay fair even when the absolute times move.
    """
    names = list(commands)
    for _ in range(warmup):
        for name in names:
            command = commands[name]
            run_once(command.argv, env=command.env, cwd=command.cwd, ok_codes=command.ok_codes)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(repeat):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            command = commands[name]
            samples[name].append(run_once(command.argv, env=command.env, cwd=command.cwd, ok_codes=command.ok_codes)[0])
    return samples


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def spread(samples: Sequence[float]) -> str:
    """min-max of the samples, for the notes: a wide spread says the machine was busy."""
    if not samples:
        return ""
    return f"min {min(samples):.3f} s, max {max(samples):.3f} s over {len(samples)} runs"


def dir_size(path: Path) -> int:
    """Bytes the tree takes on disk (allocated blocks, as `du` counts them), each inode once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, dirs, files in os.walk(path):
        for name in files + dirs:
            try:
                stat = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            key = (stat.st_dev, stat.st_ino)
            if key in seen:
                continue
            seen.add(key)
            total += stat.st_blocks * 512
    return total


def machine_facts() -> dict[str, str]:
    """Date, CPU, memory, load and versions, for the head of RESULTS.md."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    try:
        from importlib.metadata import version

        mlflow_version = version("mlflow")
    except Exception:  # noqa: BLE001 - a missing mlflow is a fact to print, not a failure
        mlflow_version = "not installed"
    load = "unknown"
    with contextlib.suppress(OSError):
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": str(os.cpu_count() or "unknown"),
        "cpu": cpu,
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "mlflow": mlflow_version,
        "load": load,
    }


def load_average() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return -1.0


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def github_actions_env(
    work: Path,
    *,
    sha: str,
    pr_number: int | None = None,
    head_ref: str = "feature/bench",
    base_sha: str = "b" * 40,
    repository: str = "octo-org/ml-repo",
    **overrides: str,
) -> dict[str, str]:
    """The environment of a GitHub Actions step: a push to main, or a pull_request event when pr_number is given."""
    work.mkdir(parents=True, exist_ok=True)
    if pr_number is None:
        event_name, ref = "push", "refs/heads/main"
        payload: dict[str, Any] = {"ref": ref, "after": sha, "repository": {"full_name": repository}}
    else:
        event_name, ref = "pull_request", f"refs/pull/{pr_number}/merge"
        payload = {
            "action": "synchronize",
            "number": pr_number,
            "pull_request": {
                "number": pr_number,
                "title": "A change to the model",
                "head": {"sha": sha, "ref": head_ref, "repo": {"full_name": repository}},
                "base": {"sha": base_sha, "ref": "main", "repo": {"full_name": repository}},
            },
            "repository": {"full_name": repository},
        }
    event_path = work / f"event-{event_name}.json"

    event_path.write_text(json.dumps(payload))
    env = clean_env(
        GITHUB_ACTIONS="true",
        GITHUB_EVENT_NAME=event_name,
        GITHUB_EVENT_PATH=str(event_path),
        GITHUB_SHA=sha,
        GITHUB_REF=ref,
        GITHUB_REPOSITORY=repository,
        GITHUB_SERVER_URL="https://github.com",
        GITHUB_RUN_ID="123456789",
        GITHUB_RUN_ATTEMPT="1",
        GITHUB_ACTOR="octocat",
    )
    if pr_number is not None:
        env |= {"GITHUB_HEAD_REF": head_ref, "GITHUB_BASE_REF": "main"}
    env.update(overrides)
    return env


def import_profile(
    args: Sequence[str], *, env: Mapping[str, str], cwd: Path, ok_codes: Sequence[int] = (0,), top: int = 6
) -> tuple[float, list[tuple[str, float]]]:
    """`python -X importtime -m ci_track ARGS`: seconds spent importing, and the costliest third-party libraries.

    A library's time is the cumulative time of its outermost imports (what importing it costs with
    everything it pulls in). importtime itself slows imports somewhat: these are upper bounds.
    """
    argv = [sys.executable, "-X", "importtime", "-m", "ci_track", *args]
    _, done = run_once(argv, env=env, cwd=cwd, ok_codes=ok_codes)
    entries: list[tuple[int, str, float]] = []
    own_code = 0.0  # ci-track's modules themselves (their top-level code: regexes, dataclasses ...)
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            self_us, cumulative_us, raw = line.split("|", 2)
            depth = (len(raw) - len(raw.lstrip()) - 1) // 2
            entries.append((depth, raw.strip(), int(cumulative_us) / 1e6))
            if raw.strip().startswith("ci_track"):
                own_code += int(self_us.rsplit(":", 1)[1]) / 1e6
    own = set(sys.stdlib_module_names) | {"ci_track"}
    libraries: dict[str, float] = {}
    stack: list[str] = []
    # importtime prints an import after its children: read it backwards to see parents first.
    for depth, name, cumulative in reversed(entries):
        del stack[depth:]
        root = name.split(".")[0]
        if root not in own and all(parent in own for parent in stack):
            libraries[root] = libraries.get(root, 0.0) + cumulative
        stack.append(root)
    total = sum(cumulative for depth, _, cumulative in entries if depth == 0)
    libraries["ci_track's own modules"] = own_code
    return total, sorted(libraries.items(), key=lambda item: -item[1])[:top]


def commit_config(workdir: Path, text: str) -> str:
    """Commit `.ci-track.yml` in the checkout made by `make_checkout`; returns the commit, the PR's base.

    On a pull request the gate reads its rules from the base commit (ci_track/gate/rules.py), so
    the benchmarks' PR events name this commit as `pull_request.base.sha`: ci-track then does the
    git read a real PR build does.
    """
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid"}
    env |= {"GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"}
    (workdir / ".ci-track.yml").write_text(text)
    for argv in (["git", "add", ".ci-track.yml"], ["git", "commit", "-q", "--allow-empty", "-m", "the rules"]):
        subprocess.run(argv, cwd=workdir, env=env, check=True, capture_output=True)
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=workdir, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def make_checkout(workdir: Path) -> Path:
    """Make `workdir` a git checkout with one commit, like the working copy a CI job runs in.

    The commit is not the one the CI variables name (as in a shallow PR checkout, where the merge-base
    is not in the history either): ci-track reads the repository the way it would in a real job.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    if (workdir / ".git").exists():
        return workdir
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid"}
    env |= {"GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"}
    (workdir / "train.py").write_text("print('training')\n")
    for argv in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "train.py"],
        ["git", "commit", "-q", "-m", "the model"],
    ):
        subprocess.run(argv, cwd=workdir, env=env, check=True, capture_output=True)
    return workdir
