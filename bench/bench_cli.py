"""Cold start, `ci-track run` overhead and metrics ingest: what ci-track adds to every CI step.

- cold start: `ci-track --version` and `ci-track compare --help` as whole processes, beside
  `python -c "import mlflow"` (what a script on the mlflow client pays before doing anything);
- run overhead: `ci-track run -- true` against a real server vs `true` alone, in a GitHub Actions
  push environment (so the CI context is read the way it is in a real job);
- ingest: a metrics file of 10,000 points logged by `ci-track run`, requests counted through a
  proxy, beside MLflow's own `MlflowClient.log_batch` with the same points.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.common import (
    CI_TRACK,
    BenchContext,
    CommandFailed,
    Figure,
    clean_env,
    failed,
    github_actions_env,
    median,
    run_once,
    spread,
    time_command,
)
from bench.counting_proxy import counting_proxy

COLD_START_LIMIT = 0.25  # seconds, issue 7
RUN_OVERHEAD_LIMIT = 0.5  # seconds added, issue 7
INGEST_POINTS = 10_000
INGEST_LIMIT = 10  # requests, issue 7
PUSH_SHA = "5eed" + "0" * 36


def run(ctx: BenchContext) -> list[Figure]:
    figures = cold_start(ctx)
    figures.append(run_overhead(ctx))
    figures.extend(metrics_ingest(ctx))
    return figures


def cold_start(ctx: BenchContext) -> list[Figure]:
    env = clean_env()
    ctx.log("  cold start: python -c pass, import mlflow, ci-track --version, ci-track compare --help")
    python_start = median(time_command([sys.executable, "-c", "pass"], repeat=ctx.repeat, env=env))
    mlflow_samples = time_command([sys.executable, "-c", "import mlflow"], repeat=ctx.repeat, env=env)
    mlflow_import = median(mlflow_samples)
    label = f'`python -c "import mlflow"` ({mlflow_import:.3f} s)'
    figures = []
    for args in (["--version"], ["compare", "--help"]):
        name = f"cold start: `ci-track {' '.join(args)}`, median of {ctx.repeat}"
        goal = f"<= {COLD_START_LIMIT} s and <= 1/4 of the mlflow import"
        try:
            samples = time_command([CI_TRACK, *args], repeat=ctx.repeat, env=env)
            if args[0] == "compare":
                _, done = run_once([CI_TRACK, *args], env=env)
                if "compare" not in done.stdout:
                    raise CommandFailed("`ci-track compare --help` did not print compare's help")
        except CommandFailed as error:
            figures.append(failed(name, "s", str(error), goal=goal, comparison_label=label))
            continue
        value = median(samples)
        figures.append(
            Figure(
                name,
                value,
                "s",
                comparison=mlflow_import,
                comparison_label=label,
                goal=goal,
                met=value <= COLD_START_LIMIT and value <= mlflow_import / 4,
                note=f"{spread(samples)}; a bare `python -c pass` takes {python_start:.3f} s here",
                samples=samples,
            )
        )
    return figures


def run_overhead(ctx: BenchContext) -> Figure:
    name = f"`ci-track run -- true` overhead vs `true`, median of {ctx.repeat}"
    goal = f"<= {RUN_OVERHEAD_LIMIT} s added"
    ctx.log("  run overhead: ci-track run -- true vs true")
    workdir = ctx.work / "run-overhead"
    try:
        server = ctx.empty_server()
        env = github_actions_env(workdir, sha=PUSH_SHA, MLFLOW_TRACKING_URI=server.url)
        bare = median(time_command(["true"], repeat=ctx.repeat, env=env, cwd=workdir))
        argv = [CI_TRACK, "run", "--experiment", "bench-run-overhead", "--", "true"]
        samples = time_command(argv, repeat=ctx.repeat, env=env, cwd=workdir)
        with counting_proxy(server.url) as proxy:
            run_once(argv, env={**env, "MLFLOW_TRACKING_URI": proxy.url}, cwd=workdir)
            requests = [r.endpoint for r in proxy.api_requests()]
    except (CommandFailed, RuntimeError, OSError) as error:
        return failed(name, "s", str(error), goal=goal, comparison_label="`true`")
    added = median(samples) - bare
    return Figure(
        name,
        median(samples),
        "s",
        comparison=bare,
        comparison_label=f"`true` alone ({bare * 1000:.1f} ms)",
        goal=goal,
        met=added <= RUN_OVERHEAD_LIMIT,
        ratio=added,
        ratio_label=f"added: {added:.3f} s",
        note=f"{spread(samples)}; {len(requests)} MLflow requests per run ({', '.join(requests)})",
        samples=samples,
    )


def metrics_file(path: Path, points: int) -> Path:
    """A DVC-plots style metrics file: `points` metric points, 5 metrics per step."""
    per_step = 5
    records = [
        {
            "step": step,
            "loss": 1.0 / (step + 1),
            "val_loss": 1.1 / (step + 1),
            "acc": 1 - 1.0 / (step + 2),
            "val_acc": 1 - 1.2 / (step + 2),
            "lr": 0.001,
        }
        for step in range(points // per_step)
    ]
    path.write_text(json.dumps({"train": records}))
    return path


_MLFLOW_LOG_BATCH = """
import sys, time
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from ci_track.metrics_file import read_metrics_file
from pathlib import Path

client = MlflowClient(sys.argv[1])
experiment = client.get_experiment_by_name("bench-ingest-mlflow")
experiment_id = experiment.experiment_id if experiment else client.create_experiment("bench-ingest-mlflow")
run = client.create_run(experiment_id)
now = int(time.time() * 1000)
points = read_metrics_file(Path(sys.argv[2]))
client.log_batch(run.info.run_id, metrics=[Metric(p.key, p.value, now, p.step) for p in points])
client.set_terminated(run.info.run_id)
"""


def metrics_ingest(ctx: BenchContext) -> list[Figure]:
    name = f"metrics ingest: {INGEST_POINTS:,} points from a metrics file, requests"
    goal = f"<= {INGEST_LIMIT} requests"
    label = "`MlflowClient.log_batch` with the same points"
    ctx.log(f"  metrics ingest: {INGEST_POINTS:,} points")
    workdir = ctx.work / "ingest"
    workdir.mkdir(parents=True, exist_ok=True)
    path = metrics_file(workdir / "metrics.json", INGEST_POINTS)
    try:
        server = ctx.empty_server()
        with counting_proxy(server.url) as proxy:
            env = github_actions_env(workdir, sha=PUSH_SHA, MLFLOW_TRACKING_URI=proxy.url)
            seconds, _ = run_once(
                [CI_TRACK, "run", "--experiment", "bench-ingest", "--metrics-file", str(path), "--", "true"],
                env=env,
                cwd=workdir,
            )
            ours = proxy.api_requests()
            proxy.reset()
            mlflow_seconds, _ = run_once(
                [sys.executable, "-c", _MLFLOW_LOG_BATCH, proxy.url, str(path)], env=clean_env(), cwd=workdir
            )
            theirs = proxy.api_requests()
    except (CommandFailed, RuntimeError, OSError) as error:
        return [failed(name, "requests", str(error), goal=goal, comparison_label=label)]
    ours_batches = sum(1 for r in ours if r.endpoint == "runs/log-batch")
    theirs_batches = sum(1 for r in theirs if r.endpoint == "runs/log-batch")
    body_kb = sum(r.request_bytes for r in ours if r.endpoint == "runs/log-batch") / 1024
    return [
        Figure(
            name,
            ours_batches,
            "requests",
            comparison=theirs_batches,
            comparison_label=f"{label}: {theirs_batches} log-batch requests",
            goal=goal,
            met=ours_batches <= INGEST_LIMIT,
            note=(
                f"runs/log-batch requests (MLflow takes at most 1,000 metrics per request, so 10 is the floor); "
                f"the whole `ci-track run` made {len(ours)} requests in {seconds:.2f} s and sent {body_kb:.0f} KiB "
                f"of metrics; the mlflow-client script made {len(theirs)} in {mlflow_seconds:.2f} s"
            ),
        )
    ]
