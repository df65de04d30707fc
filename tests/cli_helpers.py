"""Runs the real `ci-track` CLI in a subprocess, the way a CI step does."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("ci-track: error:")]


# The variables of a CI system, MLflow or ci-track that the machine running the tests may have set:
# a test sets the ones it means, none leaks in (the one rule for every environment the tests build).
CI_PREFIXES = ("GITHUB_", "GITLAB", "CI_", "MLFLOW_", "JENKINS", "CHANGE_", "INPUT_", "RUNNER_", "BITBUCKET_")
CI_NAMES = ("CI", "BUILD_URL", "BUILD_NUMBER", "GIT_COMMIT", "GIT_URL", "BRANCH_NAME", "WORKSPACE")


def is_ci_variable(name: str, *, also: Sequence[str] = ()) -> bool:
    """Whether `name` belongs to a CI system, MLflow or ci-track (`also`: more prefixes to drop)."""
    return name.startswith((*CI_PREFIXES, *also)) or name in CI_NAMES


def scrubbed_environ(*, also: Sequence[str] = ()) -> dict[str, str]:
    """os.environ without the variables `is_ci_variable` names."""
    return {key: value for key, value in os.environ.items() if not is_ci_variable(key, also=also)}


def base_env(**overrides: str) -> dict[str, str]:
    """The machine's environment minus CI and MLflow variables, plus overrides."""
    env = scrubbed_environ()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(overrides)
    return env


def github_pr_build(
    event_path: Path,
    *,
    repository: str,
    number: int,
    head_sha: str,
    head_ref: str = "feature",
    base_sha: str = "b" * 40,
    base_ref: str = "main",
    title: str = "A change",
    head_repository: str | None = None,
    labels: Sequence[str] | None = None,
    event: Mapping[str, object] | None = None,
    **variables: str,
) -> dict[str, str]:
    """A GitHub Actions `pull_request` build of `repository`#`number`: writes its event payload at
    `event_path` and returns the variables the runner sets, plus `variables` (not the machine's: see base_env).

    `head_repository` other than `repository` makes it a fork PR; `event` holds more top-level keys of the
    payload. GITHUB_SHA is the synthetic merge commit, which must never become a run's commit.
    """
    pull: dict[str, object] = {
        "number": number,
        "title": title,
        "head": {"sha": head_sha, "ref": head_ref, "repo": {"full_name": head_repository or repository}},
        "base": {"sha": base_sha, "ref": base_ref, "repo": {"full_name": repository}},
    }
    if labels is not None:
        pull["labels"] = [{"name": name} for name in labels]
    payload = {
        "action": "synchronize",
        "number": number,
        "pull_request": pull,
        "repository": {
            "full_name": repository,
            "default_branch": "main",
            "html_url": f"https://github.com/{repository}",
        },
        **(event or {}),
    }
    event_path.write_text(json.dumps(payload), encoding="utf-8")
    return {
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_SHA": "f" * 40,
        "GITHUB_REF": f"refs/pull/{number}/merge",
        "GITHUB_REPOSITORY": repository,
        **variables,
    }


def ci_track(
    *args: str,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float = 180,
    input_text: str | None = None,
) -> CliResult:
    completed = subprocess.run(
        [sys.executable, "-m", "ci_track", *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        input=input_text,
        check=False,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


def compare_with_report(
    workdir: Path, env: Mapping[str, str], *args: str, report: Path | None = None
) -> tuple[CliResult, dict]:
    """`ci-track compare --json-output REPORT ARGS` in `workdir`: the result and the report ({} when none)."""
    report = report or workdir / "report.json"
    report.unlink(missing_ok=True)
    result = ci_track("compare", "--json-output", str(report), *args, env=env, cwd=workdir)
    return result, (json.loads(report.read_text()) if report.exists() else {})


def assert_clean_failure(result: CliResult, code: int, *fragments: str) -> str:
    """A user error: the expected exit code, exactly one `ci-track: error:` line, no traceback."""
    assert result.code == code, (result.code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    assert len(result.error_lines) == 1, result.stderr
    line = result.error_lines[0]
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def init_repo(path: Path, files: Mapping[str, str], *, branch: str = "main") -> str:
    """A real git repository with one commit holding `files`; returns the commit SHA."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", branch)
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return git(path, "rev-parse", "HEAD")


def commit_all(path: Path, message: str) -> str:
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", message)
    return git(path, "rev-parse", "HEAD")


def start_slow_run(
    tmp_path: Path, tracking_uri: str, experiment: str, *, preexec_fn: Callable[[], None] | None = None
) -> tuple[subprocess.Popen[str], list[int]]:
    """`ci-track run` of a script with a background child, once both run: the process and the two pids.

    For the tests that stop a run by a signal: neither the script nor its child may survive it.
    """
    pid_file = tmp_path / "pids"
    script = tmp_path / "slow.sh"
    script.write_text(f"sleep 300 &\necho $! >> {pid_file}\necho $$ >> {pid_file}\nwait\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "ci_track", "run", "--experiment", experiment, "--", "bash", str(script)],
        env=base_env(MLFLOW_TRACKING_URI=tracking_uri, CI_TRACK_KILL_GRACE="5"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and len(pid_file.read_text().split()) == 2):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.1)
    return process, [int(p) for p in pid_file.read_text().split()]


def pids_alive(pids: Sequence[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        # a zombie still answers kill(0); read its state
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive
