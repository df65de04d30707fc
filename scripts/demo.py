"""The end-to-end demo: a local MLflow server, a sample git repository, run -> promote -> run -> compare.

Everything happens on 127.0.0.1. The results (report.md, report.json and the console table in report.txt)
stay in the output directory, `demo-results/` in the checkout by default, replaced on each run. The
scratch work (the sample repository, the server's sqlite database and artifacts) lives in its `work/`
folder and is deleted at the end unless --keep; the server is stopped at the end either way.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.mlflow_server import running_server  # noqa: E402  (the same server helper the tests use)

BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")
DEFAULT_OUTPUT = ROOT / "demo-results"
# Written into the output directory: a directory holding it (or an empty one) is the demo's to replace.
MARKER = ".ci-track-demo"
RESULT_FILES = ("report.md", "report.json", "report.txt")


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


def fresh_output_dir(path: Path) -> None:
    """Empties the output directory of an earlier demo; refuses to touch a directory the demo did not make."""
    if path.exists():
        if not path.is_dir() or (any(path.iterdir()) and not (path / MARKER).exists()):
            raise SystemExit(f"demo: {path} exists and was not made by the demo; choose another --output-dir")
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / MARKER).write_text("Made by scripts/demo, which replaces this directory on each run.\n")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/demo",
        description="Runs ci-track's whole story on a local MLflow server: run -> promote -> run -> compare.",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT,
        metavar="DIR",
        help="where report.md, report.json and report.txt are left (default: demo-results/ in the checkout; "
        "replaced on each run)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="also keep DIR/work: the sample git repository and the MLflow server's data, to look at afterwards",
    )
    return parser.parse_args()


def demo_env(bin_dir: Path) -> dict[str, str]:
    """The user's environment without CI or MLflow settings, so the demo behaves the same everywhere."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GITHUB_", "GITLAB", "CI_", "MLFLOW_", "JENKINS", "CHANGE_", "RUNNER_"))
        and key not in ("CI", "BUILD_URL", "BUILD_NUMBER", "GIT_COMMIT", "GIT_URL", "BRANCH_NAME", "WORKSPACE")
    }
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        GIT_AUTHOR_NAME="Demo",
        GIT_AUTHOR_EMAIL="demo@example.invalid",
        GIT_COMMITTER_NAME="Demo",
        GIT_COMMITTER_EMAIL="demo@example.invalid",
    )
    return env


def compare(ci_track: str, repo: Path, env: dict[str, str], output: Path) -> int:
    """`ci-track compare`, its console output shown and kept in report.txt; the reports written into output."""
    args = [
        ci_track,
        "compare",
        "--base-branch",
        "main",
        "--markdown-output",
        str(output / "report.md"),
        "--json-output",
        str(output / "report.json"),
    ]
    print(f"{DIM}$ {' '.join(args)}{RESET}", flush=True)
    completed = subprocess.run(args, cwd=repo, env=env, stdout=subprocess.PIPE, text=True, check=False)
    print(completed.stdout, end="", flush=True)
    (output / "report.txt").write_text(completed.stdout)
    missing = [name for name in RESULT_FILES if not (output / name).exists()]
    if completed.returncode not in (0, 1) or missing:
        raise SystemExit(f"demo: `ci-track compare` failed with exit code {completed.returncode}")
    return completed.returncode


def show_run_tags(server_url: str, run_id: str) -> None:
    url = f"{server_url}/api/2.0/mlflow/runs/get?run_id={run_id}"
    with urllib.request.urlopen(url) as response:  # noqa: S310 - loopback demo server
        run = json.load(response)["run"]
    for tag in sorted(run["data"]["tags"], key=lambda t: t["key"]):
        if tag["key"].startswith(("ci.", "mlflow.source", "mlflow.runName", "mlflow.user")):
            print(f"  {tag['key']:28} {tag['value']}")


def main() -> int:
    args = parse_args()
    output = args.output_dir.resolve()
    fresh_output_dir(output)
    work = output / "work"
    repo = work / "diabetes"
    bin_dir = Path(sys.executable).parent
    base_env = demo_env(bin_dir)
    ci_track = str(bin_dir / "ci-track")
    try:
        step("Start a local MLflow server (sqlite, 127.0.0.1)")
        with running_server(work / "mlflow") as server:
            print(f"MLflow UI, while the demo runs: {server.url}")
            env = {**base_env, "MLFLOW_TRACKING_URI": server.url}

            step("A sample git repository: the diabetes ElasticNet on main")
            shutil.copytree(ROOT / "examples" / "diabetes", repo)
            (repo / ".gitignore").write_text("metrics.json\nmlruns/\n.ci-track/\n")
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
            code = compare(ci_track, repo, env, output)
            # The verdict is compare's last line, printed above: say only what the exit code does with it.
            meaning = "CI fails this step and the merge is blocked" if code else "the merge may go ahead"
            print(f"\nexit code {code}: {meaning}")

            step("The candidate run's tags in MLflow (where it came from)")
            show_run_tags(server.url, json.loads((output / "report.json").read_text())["candidate"]["run_id"])
            step("Stop the MLflow server")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.keep:
        print(f"\nKept (--keep): the sample repository {repo} and the MLflow server's data {work / 'mlflow'}.")
        print(f"Browse the runs: {bin_dir / 'mlflow'} ui --backend-store-uri sqlite:///{work / 'mlflow' / 'mlflow.db'}")
    print(f"\nThe reports (report.md: the PR comment, report.json, report.txt: the console table) are in {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
