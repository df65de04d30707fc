"""Training reuse on a real commit history: `ci-track run --reuse` at every commit of nanoGPT's history.

`python bench/reuse_replay.py [--limit N]` replays bench/workloads/nanogpt-history.json (159
first-parent commits of karpathy/nanoGPT: which paths each commit added or modified, no contents)
as a synthetic git repository whose files are this script's own: each added or modified path gets
a new text naming the commit, and `train.py` is a small deterministic training script using the
real MLflow client, whose metrics (a 10-step `val_loss` history, `train_loss`, `tokens_per_s`)
are a function of the contents of the five files the workload's README names as the inputs of the
`shakespeare_char` training. `.ci-track.yml` declares those five paths as `run.inputs`.

It starts a real `mlflow server` on 127.0.0.1 (tests/mlflow_server.py) behind the counting proxy
(tests/fakes/fault_proxy.py) and replays the history twice, each in its own experiment, on the
`main` branch (`git reset --hard` to each commit in turn):

1. `ci-track run --reuse -- python train.py` at every commit, then `ci-track compare --json-output`;
2. `ci-track run --no-reuse -- python train.py` at every commit (retraining every commit), then
   the same compare.

and reports: trainings done vs commits vs commits that touch a declared input (must be equal), the
wall time of the `run` steps in both replays, the MLflow requests a `run --reuse` adds by the lookup
(requests of a training `run --reuse` minus those of the `run --no-reuse` at the same commit, and the
fingerprint searches per run), that every commit's run in the reuse replay carries exactly the metrics
(latest values and full step histories) of the retraining replay, and that every gate decision
(verdict and per-metric status) is the same. Commits before the `shakespeare_char` configuration
existed (its inputs match no file) exit 2 in both replays and create no run: counted, not replayed.
Results are appended to bench/RESULTS.md. Both replays go through the proxy, so their wall times
carry the same extra hop.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ci_track.settings import TrackingSettings  # noqa: E402
from ci_track.tracking.client import MlflowClient  # noqa: E402
from tests.fakes.fault_proxy import counting_proxy  # noqa: E402
from tests.mlflow_server import running_server  # noqa: E402

WORKLOAD = ROOT / "bench" / "workloads" / "nanogpt-history.json"
RESULTS = ROOT / "bench" / "RESULTS.md"
INPUTS = (
    "train.py",
    "model.py",
    "configurator.py",
    "config/train_shakespeare_char.py",
    "data/shakespeare_char/prepare.py",
)
TRAIN = f'''\
"""A stand-in for nanoGPT's train.py: deterministic numbers from the contents of its inputs."""
import hashlib, pathlib
import mlflow

INPUTS = {INPUTS!r}
digest = hashlib.sha256(b"".join(pathlib.Path(p).read_bytes() for p in INPUTS)).digest()
level = digest[0] / 255
with mlflow.start_run():
    mlflow.log_params({{"block_size": 256, "n_layer": 6, "dropout": round(digest[1] / 1275, 4)}})
    for step in range(10):
        mlflow.log_metric("val_loss", 1.4 + 0.2 * level + 1.0 / (step + 1), step=step * 250)
    mlflow.log_metric("train_loss", 1.2 + 0.2 * digest[2] / 255)
    mlflow.log_metric("tokens_per_s", 9000 + digest[3])
'''
CONFIG = """\
experiment: {experiment}
champion: {{strategy: [latest]}}
metrics:
  val_loss: {{goal: minimize, aggregate: min, max_regression: "1%"}}
  train_loss: {{goal: minimize, max_regression: {{sigma: 3, relative: "1%"}}}}
  tokens_per_s: {{goal: maximize, severity: info}}
run:
  inputs: {inputs}
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def touches_inputs(commit: dict) -> bool:
    return any(set(change[1:]) & set(INPUTS) for change in commit["changes"])


def build_repository(repo: Path, commits: Sequence[dict]) -> list[str]:
    """The synthetic history: one git commit per workload commit; returns their SHAs, oldest first."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "bench@example.com")
    git(repo, "config", "user.name", "bench")
    shas = []
    for index, commit in enumerate(commits):
        for change in commit["changes"]:
            kind, path = change[0], change[-1]
            target = repo / path
            if kind == "D":
                target.unlink(missing_ok=True)
                continue
            if kind == "R":
                (repo / change[1]).unlink(missing_ok=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            revision = f"# {path} as of {commit['commit']} ({commit['date']}), revision {index}\n"
            target.write_text((TRAIN if path == "train.py" else "") + revision)
        if index == 0:
            # ci-track's own file, the same at every commit (the experiment is set per replay on the command line)
            (repo / ".ci-track.yml").write_text(CONFIG.format(experiment="nanogpt", inputs=json.dumps(list(INPUTS))))
        git(repo, "add", "-A")
        git(
            repo,
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            f"{commit['commit']} {commit['date']}",
            "--date",
            f"{commit['date']}T12:00:00",
        )
        shas.append(git(repo, "rev-parse", "HEAD"))
    return shas


def clean_env(**extra: str) -> dict[str, str]:
    prefixes = ("GITHUB_", "GITLAB", "CI_", "MLFLOW_", "JENKINS", "CHANGE_", "INPUT_", "RUNNER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes) and k not in ("CI", "BUILD_URL")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def ci_track(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, float]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ci_track", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=900
    )
    return done.returncode, done.stderr, time.perf_counter() - start


def replay(repo: Path, shas: Sequence[str], *, reuse: bool, experiment: str, proxy, env: dict[str, str]) -> list[dict]:
    """One replay: `run` then `compare` at every commit; what each step did."""
    steps = []
    flag = "--reuse" if reuse else "--no-reuse"
    for index, sha in enumerate(shas):
        git(repo, "reset", "-q", "--hard", sha)
        proxy.reset()
        code, stderr, seconds = ci_track(
            ["run", "--experiment", experiment, flag, "--", sys.executable, "train.py"], env, repo
        )
        requests = proxy.api_requests()
        step = {
            "index": index,
            "sha": sha,
            "code": code,
            "seconds": seconds,
            "requests": len(requests),
            "lookups": sum(1 for r in requests if r.endpoint == "runs/search" and b"ci.fingerprint" in r.body),
            "skipped": "training skipped: inputs unchanged since run" in stderr,
            "error": next((line for line in stderr.splitlines() if line.startswith("ci-track: error:")), None),
        }
        if code == 0:
            report = repo.parent / f"{experiment}-{index}.json"
            compare_code, _, _ = ci_track(
                ["compare", "--experiment", experiment, "--json-output", str(report)], env, repo
            )
            data = json.loads(report.read_text())
            step["gate"] = {
                "exit": compare_code,
                "verdict": data.get("verdict"),
                "metrics": {
                    m["name"]: [m.get(k) for k in ("status", "outcome", "candidate", "champion", "reason")]
                    for m in data.get("metrics", [])
                },
            }
        elif code != 2:
            raise RuntimeError(f"ci-track run exited {code} at commit {index}: {stderr.strip()[-500:]}")
        steps.append(step)
        print(f"{experiment} {index:3d} code={code} skipped={step['skipped']} {seconds:.2f}s", flush=True)
    return steps


def run_metrics(client: MlflowClient, experiment: str) -> dict[str, dict]:
    """Per commit SHA: the run's latest metrics and every metric's (step, value) history."""
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    runs, _ = client.search_runs([found.experiment_id], max_results=1000)
    out = {}
    for run in runs:
        histories = {
            key: sorted((p.step, p.value) for p in client.get_metric_history(run.run_id, key)) for key in run.metrics
        }
        out[run.head_sha or ""] = {"metrics": dict(run.metrics), "histories": histories, "params": dict(run.params)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="replay only the first N commits (a quick check)")
    args = parser.parse_args()
    commits = json.loads(WORKLOAD.read_text())["commits"][: args.limit]
    with tempfile.TemporaryDirectory(prefix="ci-track-reuse-") as tmp:
        work = Path(tmp)
        repo = work / "nanogpt"
        shas = build_repository(repo, commits)
        with running_server(work / "server") as server, counting_proxy(server.url) as proxy:
            env = clean_env(MLFLOW_TRACKING_URI=proxy.url)
            reused = replay(repo, shas, reuse=True, experiment="replay-reuse", proxy=proxy, env=env)
            retrained = replay(repo, shas, reuse=False, experiment="replay-retrain", proxy=proxy, env=env)
            with MlflowClient(TrackingSettings(uri=server.url)) as client:
                reuse_runs = run_metrics(client, "replay-reuse")
                retrain_runs = run_metrics(client, "replay-retrain")
    figures = summarize(commits, reused, retrained, reuse_runs, retrain_runs)
    write_results(figures)
    print(json.dumps(figures, indent=2))
    return 0 if figures["goal_met"] else 1


def summarize(commits, reused, retrained, reuse_runs, retrain_runs) -> dict:
    replayed = [s for s in reused if s["code"] == 0]
    not_replayed = [s for s in reused if s["code"] == 2]
    touching = sum(1 for s in replayed if touches_inputs(commits[s["index"]]))
    trainings = sum(1 for s in replayed if not s["skipped"])
    retrain_trainings = sum(1 for s in retrained if s["code"] == 0)
    same_metrics = sum(1 for s in replayed if reuse_runs.get(s["sha"]) == retrain_runs.get(s["sha"]))
    pairs = list(zip(reused, retrained, strict=True))
    same_gate = sum(1 for a, b in pairs if a["code"] == 0 and a.get("gate") == b.get("gate"))
    added = [a["requests"] - b["requests"] for a, b in pairs if a["code"] == 0 and not a["skipped"]]
    lookups = {s["lookups"] for s in replayed}
    hits = [s for s in replayed if s["skipped"]]
    trained_steps = [s for s in replayed if not s["skipped"]]
    verdicts: dict[str, int] = {}
    for s in replayed:
        verdicts[s["gate"]["verdict"]] = verdicts.get(s["gate"]["verdict"], 0) + 1
    figures = {
        "commits": len(commits),
        "replayed": len(replayed),
        "not_replayed": len(not_replayed),
        "not_replayed_error": not_replayed[0]["error"] if not_replayed else None,
        "input_touching": touching,
        "trainings_reuse": trainings,
        "trainings_retrain": retrain_trainings,
        "hits": len(hits),
        "run_seconds_reuse": round(sum(s["seconds"] for s in reused), 1),
        "run_seconds_retrain": round(sum(s["seconds"] for s in retrained), 1),
        "hit_seconds_mean": round(sum(s["seconds"] for s in hits) / max(len(hits), 1), 3),
        "trained_seconds_mean": round(sum(s["seconds"] for s in trained_steps) / max(len(trained_steps), 1), 3),
        "lookups_per_run": sorted(lookups),
        "requests_added_by_lookup": sorted(set(added)),
        "requests_per_hit": sorted({s["requests"] for s in hits}),
        "requests_per_training_reuse": sorted({s["requests"] for s in trained_steps}),
        "same_metrics": same_metrics,
        "same_gate": same_gate,
        "verdicts": verdicts,
    }
    figures["goal_met"] = (
        trainings == touching
        and same_metrics == len(replayed)
        and same_gate == len(replayed)
        and figures["requests_added_by_lookup"] == [1]
    )
    return figures


def write_results(f: dict) -> None:
    saved = f["run_seconds_retrain"] - f["run_seconds_reuse"]
    share = saved / f["run_seconds_retrain"] if f["run_seconds_retrain"] else 0.0
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = [
        ("commits in the workload", f["commits"], ""),
        (
            "commits before the `shakespeare_char` inputs existed (exit 2 in both replays, no run)",
            f["not_replayed"],
            f"`{f['not_replayed_error']}`" if f["not_replayed_error"] else "",
        ),
        ("commits replayed", f["replayed"], ""),
        ("replayed commits that touch a declared input", f["input_touching"], ""),
        ("trainings with `--reuse`", f["trainings_reuse"], "must equal the line above"),
        ("trainings retraining every commit", f["trainings_retrain"], ""),
        ("commits whose training was skipped", f["hits"], ""),
        (
            "wall time of the `run` steps: reuse vs retrain every commit",
            f"{f['run_seconds_reuse']} s vs {f['run_seconds_retrain']} s",
            f"saved {saved:.1f} s ({share:.0%})",
        ),
        (
            "mean `run` wall time: skipped vs trained",
            f"{f['hit_seconds_mean']} s vs {f['trained_seconds_mean']} s",
            f"a training here costs {f['trained_seconds_mean'] - f['hit_seconds_mean']:.1f} s more (a Python "
            "start, `import mlflow`, the logging): a real one saves its own duration",
        ),
        ("fingerprint lookups (`runs/search`) per `run --reuse`", f["lookups_per_run"], ""),
        (
            "MLflow requests added by the lookup (training `run --reuse` minus `run --no-reuse`, same commit)",
            f["requests_added_by_lookup"],
            "goal: at most 1",
        ),
        ("MLflow requests of a skipped `run` (the copy included)", f["requests_per_hit"], ""),
        (
            "MLflow requests of a training `run --reuse` (the script's own included)",
            f["requests_per_training_reuse"],
            "",
        ),
        (
            "replayed commits whose run carries exactly the retraining's metrics, histories and params",
            f"{f['same_metrics']} of {f['replayed']}",
            "",
        ),
        (
            "replayed commits with the same gate decision "
            "(exit code, verdict, every metric's status, values and reason)",
            f"{f['same_gate']} of {f['replayed']}",
            "",
        ),
        ("gate verdicts (reuse replay)", ", ".join(f"{k}: {v}" for k, v in sorted(f["verdicts"].items())), ""),
    ]
    lines = [
        "",
        f"## Training reuse: nanoGPT's history replayed ({when})",
        "",
        f"`python bench/reuse_replay.py` ({platform.python_version()}, {os.cpu_count()} CPUs, load average at the "
        f"end {load:.2f}); how it is measured: the module docstring and [docs/reuse.md](../docs/reuse.md). "
        f"Goal met: **{'yes' if f['goal_met'] else 'no'}**.",
        "",
        "| figure | value | note |",
        "|---|---|---|",
        *[f"| {name} | {value} | {note} |" for name, value, note in rows],
        "",
    ]
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
