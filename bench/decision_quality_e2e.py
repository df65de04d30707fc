# ruff: noqa: RUF002  (σ is the standard deviation)
"""End-to-end sample of the decision-quality benchmark: simulated PRs through the real `ci-track run`/`compare`.

`python bench/decision_quality_e2e.py [--prs 32] [--seed 20261203]` starts a real `mlflow server` on
127.0.0.1 (tests/mlflow_server.py), simulates PRs exactly as bench/decision_quality.py does (noise
resampled from bench/data/seed_noise.json, the same effects and history), and for each PR, in an
experiment of its own:

1. writes the base branch's 20-run history as complete single runs (the REST client, as the tests do:
   what matters here is what `compare` reads, not how the runs got there);
2. trains the champion with `ci-track run --repeat 4` on `main` (4 real attempts, seeds 1..4; the
   training command prints the simulated value of its CI_TRACK_SEED into a metrics file);
3. trains the candidate with `ci-track run --repeat auto --repeat-max 4` as PR N (the gate decides
   after each attempt whether to train again);
4. runs `ci-track compare --json-output` and reads its verdict, σ, source and runs.

and checks that the real path made the same decisions as the pure core on the same values
(`repeats.next_repeat` + `noise.decide` with the same champion, history and candidate values, as
bench/decision_quality.py's `noise_auto`): the same number of candidate runs, the same verdict, the
same σ. Results are appended to bench/RESULTS-decision-quality.md. The sample is too small for rates:
its point is that the same path decides, not another estimate of the figures.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import clean_env  # noqa: E402
from bench.decision_quality import DATA, PullRequest, load_metrics, simulate  # noqa: E402
from ci_track.gate import noise, repeats, tolerance  # noqa: E402
from ci_track.settings import TrackingSettings  # noqa: E402
from ci_track.tracking.client import MlflowClient  # noqa: E402
from tests.mlflow_server import running_server  # noqa: E402

MAX_RUNS = 4
CHAMPION_RUNS = 4
RULE = "3sigma"
RESULTS = ROOT / "bench" / "RESULTS-decision-quality.md"
TRAIN = (
    "import json, os; seed = int(os.environ['CI_TRACK_SEED']); "
    "values = json.loads(os.environ['VALUES']); "
    "json.dump({'score': values[seed - 1]}, open('metrics.json', 'w'))"
)


def expected(pr: PullRequest) -> tuple[str, int, float | None]:
    """The pure core's decision on the same values: (verdict, candidate runs, σ)."""
    spec = tolerance.parse_tolerance(RULE)
    runs = 1
    while True:
        values = pr.candidate[:runs]
        estimate = noise.estimate_noise([values, pr.champion], pr.history)
        decision = noise.decide(values, pr.champion, pr.metric.goal, spec, estimate)
        if not repeats.next_repeat([decision], runs, MAX_RUNS).again:
            return decision.verdict, runs, estimate.sigma
        runs += 1


def ci_track(args: list[str], env: dict[str, str], cwd: Path, ok: tuple[int, ...] = (0,)) -> tuple[int, str]:
    import subprocess

    completed = subprocess.run(
        [sys.executable, "-m", "ci_track", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )
    if completed.returncode not in ok:
        raise RuntimeError(f"ci-track {args[0]} exited {completed.returncode}: {completed.stderr.strip()[-400:]}")
    return completed.returncode, completed.stderr


def one_pr(index: int, pr: PullRequest, server_url: str, work: Path) -> dict:
    experiment = f"e2e-{index:03d}"
    workdir = work / experiment
    workdir.mkdir()
    (workdir / ".ci-track.yml").write_text(
        f"experiment: {experiment}\nbase_branch: main\nmetrics:\n"
        f'  score: {{goal: {pr.metric.goal}, max_regression: "{RULE}"}}\n'
    )
    with MlflowClient(TrackingSettings(uri=server_url)) as client:
        experiment_id = client.get_or_create_experiment(experiment).experiment_id
        start = int(time.time() * 1000) - 10_000_000
        for step, value in enumerate(pr.history):  # oldest first, one commit each
            tags = {"mlflow.source.git.branch": "main", "mlflow.source.git.commit": f"{step + 1:040x}"}
            run = client.create_run(experiment_id, tags=tags, start_time=start + step)
            client.log_batch(run.run_id, metrics=[{"key": "score", "value": value}])
            client.update_run(run.run_id, "FINISHED")
            client.set_tag(run.run_id, "ci.exit_code", "0")
    base = clean_env(MLFLOW_TRACKING_URI=server_url, PYTHONPATH=str(ROOT))  # this checkout's ci_track
    champion_env = {**base, "CI_TRACK_HEAD_SHA": "a" * 40, "CI_TRACK_BRANCH": "main", "VALUES": json.dumps(pr.champion)}
    ci_track(
        ["run", "--repeat", str(CHAMPION_RUNS), "--metrics-file", "metrics.json", "--", sys.executable, "-c", TRAIN],
        champion_env,
        workdir,
    )
    candidate_env = {
        **base,
        "CI_TRACK_HEAD_SHA": "c" * 40,
        "CI_TRACK_BRANCH": "feature",
        "CI_TRACK_PR_NUMBER": str(index + 1),
        "CI_TRACK_BASE_BRANCH": "main",
        "CI_TRACK_RULES_FROM": "head",  # a plain directory, not a clone with the base commit
        "VALUES": json.dumps(pr.candidate),
    }
    _, stderr = ci_track(
        [
            "run", "--repeat", "auto", "--repeat-max", str(MAX_RUNS),
            "--metrics-file", "metrics.json", "--", sys.executable, "-c", TRAIN,
        ],
        candidate_env,
        workdir,
    )  # fmt: skip
    report = workdir / "report.json"
    code, _ = ci_track(["compare", "--json-output", str(report)], candidate_env, workdir, ok=(0, 1))
    document = json.loads(report.read_text())
    metric = next(m for m in document["metrics"] if m["name"] == "score")
    verdict, runs, sigma = expected(pr)
    got_sigma = metric["noise"]["sigma"]
    return {
        "effect": pr.effect,
        "metric": pr.metric.name,
        "expected": (verdict, runs, sigma),
        "got": ("fail" if code == 1 else "pass", metric["noise"]["candidate_runs"], got_sigma),
        "source": metric["noise"]["source"],
        "same_sigma": sigma is not None and got_sigma is not None and math.isclose(sigma, got_sigma, rel_tol=1e-9),
        "reason": next((line for line in stderr.splitlines() if "repeat group" in line), ""),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prs", type=int, default=32)
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    prs = simulate(load_metrics(DATA), args.prs, CHAMPION_RUNS, args.seed)
    started = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="ci-track-e2e-") as temp, running_server(Path(temp) / "server") as server:
        for index, pr in enumerate(prs):
            results.append(one_pr(index, pr, server.url, Path(temp)))
            print(f"PR {index + 1}/{len(prs)}: {results[-1]['got']} (pure core: {results[-1]['expected']})")
    elapsed = time.perf_counter() - started
    lines = report_lines(results, args, elapsed)
    with args.output.open("a", encoding="utf-8") as out:
        out.write("\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(_agrees(r) for r in results) else 1


def _agrees(result: dict) -> bool:
    return result["expected"][:2] == result["got"][:2] and result["same_sigma"]


def report_lines(results: list[dict], args: argparse.Namespace, elapsed: float) -> list[str]:
    agree = sum(1 for r in results if _agrees(r))
    blocked = sum(1 for r in results if r["got"][0] == "fail")
    runs = sum(r["got"][1] for r in results) / len(results)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## End-to-end sample: the same decisions through `ci-track run` / `compare` on a real server",
        "",
        f"Written by `python bench/decision_quality_e2e.py --prs {args.prs} --seed {args.seed}` on {when} "
        f"({elapsed:.0f} s on this machine, a real `mlflow server` on 127.0.0.1). Each PR: a 20-run base-branch "
        f"history, a champion trained with `ci-track run --repeat {CHAMPION_RUNS}`, the candidate with "
        f"`ci-track run --repeat auto --repeat-max {MAX_RUNS}`, then `ci-track compare` under "
        f'`max_regression: "{RULE}"`; the pure core decided the same values '
        "(bench/decision_quality.py's `noise_auto`).",
        "",
        f"- PRs whose real verdict, number of candidate runs and σ equal the pure core's: "
        f"**{agree} of {len(results)}**",
        f"- blocked: {blocked}; candidate runs per PR: {runs:.2f}",
        "",
        "| PR | metric | true effect (σ) | pure core: verdict, runs | ci-track: verdict, runs | σ source | same σ |",
        "|---|---|---|---|---|---|---|",
    ]
    for index, r in enumerate(results):
        e, g = r["expected"], r["got"]
        lines.append(
            f"| {index + 1} | {r['metric']} | {r['effect']:+.2f} | {e[0]}, {e[1]} | {g[0]}, {g[1]} | {r['source']} | "
            f"{'yes' if r['same_sigma'] else 'no'} |"
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
