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
    Command,
    CommandFailed,
    Figure,
    clean_env,
    failed,
    github_actions_env,
    make_checkout,
    median,
    run_once,
    spread,
    time_interleaved,
)
from tests.fakes.fault_proxy import ProxiedRequest, counting_proxy

COLD_START_LIMIT = 0.25  # seconds, issue 7
RUN_OVERHEAD_LIMIT = 0.5  # seconds added, issue 7
INGEST_POINTS = 10_000
INGEST_LIMIT = 10  # requests, issue 7
PUSH_SHA = "5eed" + "0" * 36
MAX_ITEMS_PER_BATCH = 1000  # MLflow's log-batch limit, metrics, params and tags together


def _ingest_miss(batches: int, metrics: int, others: int) -> str:
    """Why the ingest took more requests than the goal, from what the batches held."""
    needed = -(-(metrics + others) // MAX_ITEMS_PER_BATCH)
    if batches == needed and others:
        return (
            f"Missed because the run's final tags ({others} item(s), e.g. `ci.exit_code`) travel in the same "
            f"log-batch requests as the metrics: {metrics:,} points plus {others} are more than "
            f"{batches - 1} full requests hold. What would close it: leave `ci.exit_code` off a run whose status "
            "is FINISHED (the status already says exit 0), so the points alone take the minimum of ten requests"
        )
    return f"Missed because the batches are not full ({needed} would do): packing them fully would close it"


def run(ctx: BenchContext) -> list[Figure]:
    figures = cold_start(ctx)
    figures.append(run_overhead(ctx))
    figures.extend(metrics_ingest(ctx))
    return figures


def cold_start(ctx: BenchContext) -> list[Figure]:
    env = clean_env()
    ctx.log("  cold start: python -c pass, import mlflow, ci-track --version, ci-track compare --help (interleaved)")
    commands = {
        "pass": Command([sys.executable, "-c", "pass"], env),
        "mlflow": Command([sys.executable, "-c", "import mlflow"], env),
        "--version": Command([CI_TRACK, "--version"], env),
        "compare --help": Command([CI_TRACK, "compare", "--help"], env),
    }
    goal = f"<= {COLD_START_LIMIT} s and <= 1/4 of the mlflow import"
    try:
        _, done = run_once([CI_TRACK, "compare", "--help"], env=env)
        if "compare" not in done.stdout:
            raise CommandFailed("`ci-track compare --help` did not print compare's help")
        samples = time_interleaved(commands, repeat=ctx.repeat)
    except CommandFailed as error:
        return [failed(f"cold start: `ci-track {args}`", "s", str(error), goal=goal) for args in list(commands)[2:]]
    python_start, mlflow_import = median(samples["pass"]), median(samples["mlflow"])
    label = f'`python -c "import mlflow"` ({mlflow_import:.3f} s)'
    figures = []
    for args in ("--version", "compare --help"):
        value = median(samples[args])
        figures.append(
            Figure(
                f"cold start: `ci-track {args}`, median of {ctx.repeat}",
                value,
                "s",
                comparison=mlflow_import,
                comparison_label=label,
                goal=goal,
                met=value <= COLD_START_LIMIT and value <= mlflow_import / 4,
                note=f"{spread(samples[args])}; `import mlflow`: {spread(samples['mlflow'])}; a bare "
                f"`python -c pass` takes {python_start:.3f} s here",
                samples=samples[args],
            )
        )
    return figures


def run_overhead(ctx: BenchContext) -> Figure:
    name = f"`ci-track run -- true` overhead vs `true`, median of {ctx.repeat}"
    goal = f"<= {RUN_OVERHEAD_LIMIT} s added"
    ctx.log("  run overhead: ci-track run -- true vs true")
    workdir = make_checkout(ctx.work / "run-overhead")
    try:
        server = ctx.empty_server()
        env = github_actions_env(workdir, sha=PUSH_SHA, MLFLOW_TRACKING_URI=server.url)
        argv = [CI_TRACK, "run", "--experiment", "bench-run-overhead", "--", "true"]
        timed = time_interleaved(
            {"true": Command(["true"], env, workdir), "run": Command(argv, env, workdir)}, repeat=ctx.repeat
        )
        bare, samples = median(timed["true"]), timed["run"]
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


def _batch_shape(batch: dict[str, list[object]]) -> str:
    parts = [f"{len(batch[kind])} {kind}" for kind in ("metrics", "tags", "params") if batch.get(kind)]
    return "+".join(parts) or "empty"


def _runs_of(items: list[str]) -> str:
    """`a, a, a, b` -> `3 x a, b`."""
    out: list[tuple[str, int]] = []
    for item in items:
        if out and out[-1][0] == item:
            out[-1] = (item, out[-1][1] + 1)
        else:
            out.append((item, 1))
    return ", ".join(f"{n} x {item}" if n > 1 else item for item, n in out)


def _endpoints(requests: list[ProxiedRequest]) -> str:
    counted: dict[str, int] = {}
    for r in requests:
        counted[r.endpoint] = counted.get(r.endpoint, 0) + 1
    return ", ".join(f"{n} x {e}" if n > 1 else e for e, n in counted.items())


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
from ci_track.training.metrics_file import read_metrics_file
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
    workdir = make_checkout(ctx.work / "ingest")
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
    our_batches = [json.loads(r.body) for r in ours if r.endpoint == "runs/log-batch"]
    ours_batches = len(our_batches)
    theirs_batches = sum(1 for r in theirs if r.endpoint == "runs/log-batch")
    body_kb = sum(r.request_bytes for r in ours if r.endpoint == "runs/log-batch") / 1024
    shapes = _runs_of([_batch_shape(batch) for batch in our_batches])
    met = ours_batches <= INGEST_LIMIT
    metrics_sent = sum(len(batch.get("metrics", [])) for batch in our_batches)
    others = sum(len(batch.get("tags", [])) + len(batch.get("params", [])) for batch in our_batches)
    return [
        Figure(
            name,
            ours_batches,
            "requests",
            comparison=theirs_batches,
            comparison_label=f"{label}: {theirs_batches} log-batch requests",
            goal=goal,
            met=met,
            note=(
                f"runs/log-batch requests: MLflow takes at most 1,000 items (metrics, params and tags together) per "
                f"request, so 10 is the floor for the points alone. ci-track sent {metrics_sent:,} metrics and "
                f"{others} tag/param item(s) in batches of {shapes} ({body_kb:.0f} KiB); the whole `ci-track run` "
                f"made {len(ours)} requests ({_endpoints(ours)}) in {seconds:.2f} s; the mlflow-client script made "
                f"{len(theirs)} ({_endpoints(theirs)}) in {mlflow_seconds:.2f} s"
                + ("" if met else ". " + _ingest_miss(ours_batches, metrics_sent, others))
            ),
        )
    ]
