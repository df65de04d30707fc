"""The end-to-end demo: a local MLflow server, a sample git repository, run -> promote -> run -> compare.

Everything happens on 127.0.0.1 in a temporary directory (kept with --keep); the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.mlflow_server import running_server  # noqa: E402  (the same server helper the tests use)

BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")


def step(title: str) -> None:
    print(f"\n{BOLD}== {title}{RESET}", flush=True)


def sh(args: list[str], *, cwd: Path, env: dict[str, str], check: bool = True) -> int:
    print(f"{DIM}$ {' '.join(args)}{RESET}", flush=True)
    code = subprocess.run(args, cwd=cwd, env=env, check=False).returncode
    if check and code != 0:
        raise SystemExit(f"demo: `{' '.join(args)}` failed with exit code {code}")
    return code


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (server data, repo, report)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ci-track-demo-"))
    repo = work / "diabetes"
    bin_dir = Path(sys.executable).parent
    base_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GITHUB_", "GITLAB_", "MLFLOW_", "CI_TRACK_", "JENKINS", "CHANGE_"))
    }
    base_env.update(
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        GIT_AUTHOR_NAME="Demo",
        GIT_AUTHOR_EMAIL="demo@example.invalid",
        GIT_COMMITTER_NAME="Demo",
        GIT_COMMITTER_EMAIL="demo@example.invalid",
    )
    ci_track = str(bin_dir / "ci-track")
    try:
        step("Start a local MLflow server (sqlite, 127.0.0.1)")
        with running_server(work / "mlflow") as server:
            print(f"MLflow UI: {server.url}")
            env = {**base_env, "MLFLOW_TRACKING_URI": server.url}

            step("A sample git repository: the diabetes ElasticNet on main")
            shutil.copytree(ROOT / "examples" / "diabetes", repo)
            (repo / ".gitignore").write_text("metrics.json\nmlruns/\n.ci-track/\nreport.*\n")
            git(repo, "init", "-q", "-b", "main")
            git(repo, "add", "-A")
            git(repo, "commit", "-q", "-m", "ElasticNet baseline")

            step("Train on main: every commit is a tracked run")
            sh([ci_track, "run", "--entry-point", "main"], cwd=repo, env=env)

            step("Promote it: main's run becomes the champion")
            sh([ci_track, "promote"], cwd=repo, env=env)

            step("A feature branch that regularizes much harder (a worse model)")
            git(repo, "checkout", "-q", "-b", "feature/more-regularization")
            mlproject = repo / "MLproject"
            mlproject.write_text(mlproject.read_text().replace("default: 0.01", "default: 1.0"))
            git(repo, "commit", "-q", "-am", "Regularize harder")
            sh([ci_track, "run", "--entry-point", "main"], cwd=repo, env=env)

            step("Compare the branch's run with the champion (the merge gate)")
            code = sh(
                [
                    ci_track,
                    "compare",
                    "--base-branch",
                    "main",
                    "--markdown-output",
                    "report.md",
                    "--json-output",
                    "report.json",
                ],
                cwd=repo,
                env=env,
                check=False,
            )
            verdict = json.loads((repo / "report.json").read_text())["verdict"]
            print(f"\nverdict: {verdict}; exit code {code} ({'merge blocked' if code == 1 else 'merge allowed'})")
            print(f"markdown report for the PR comment: {repo / 'report.md'}")

            step("The run's metadata in MLflow")
            run_id = json.loads((repo / "report.json").read_text())["candidate"]["run_id"]
            url = f"{server.url}/api/2.0/mlflow/runs/get?run_id={run_id}"
            with urllib.request.urlopen(url) as response:  # noqa: S310 - loopback demo server
                run = json.load(response)["run"]
            for tag in sorted(run["data"]["tags"], key=lambda t: t["key"]):
                if tag["key"].startswith(("ci.", "mlflow.source", "mlflow.runName", "mlflow.user")):
                    print(f"  {tag['key']:28} {tag['value']}")
            step("Stop the MLflow server")
        print("done." + (f" Work directory kept: {work}" if args.keep else ""))
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
