"""The charts' cost (issue 14): MLflow requests of `ci-track compare` with and without charts, 1,000 and 20,000 runs.

Per size, the cached store of populate.py behind a real `mlflow server` (bench_compare.py's setup:
the candidate PR run, the `best` champion, the rules of bench_compare.CONFIG) and the counting
proxy of tests/fakes/fault_proxy.py; `compare` runs as the GitHub Action runs it (`--run-id` from
the run step, a pull_request environment) once with `--no-charts` and once with the charts, and
every API request is counted. Goal: at most 2 requests more with the charts, the same at both
sizes. `python -m bench.bench_charts` prints the section bench/RESULTS.md carries.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.bench_compare import CONFIG, candidate_pr_env, compare_argv
from bench.common import commit_config, make_checkout, run_once
from bench.populate import EXPERIMENT, populated_db, serving
from tests.fakes.fault_proxy import counting_proxy

ROOT = Path(__file__).resolve().parents[1]
SIZES = (1_000, 20_000)
EXTRA_LIMIT = 2  # requests the charts may add (issue 14)


def measure(size: int, work: Path) -> dict[str, Any]:
    """Requests of one compare without and with the charts, on a store of `size` runs."""
    population = populated_db(size, log=print)
    workdir = make_checkout(work / f"charts-{size}")
    rules_commit = commit_config(workdir, CONFIG.format(experiment=EXPERIMENT))
    found: dict[str, Any] = {"runs": population.runs}
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(serving(population, workdir / "server"))
        proxy = stack.enter_context(counting_proxy(server.url))
        # this checkout's ci_track, whatever the venv's editable install points at
        env = {**candidate_pr_env(workdir, population, rules_commit, proxy.url), "PYTHONPATH": str(ROOT)}
        argv = [*compare_argv(workdir), "--run-id", population.candidate_run_id]
        for label, flags in (("without", ["--no-charts"]), ("with", [])):
            proxy.reset()
            run_once([*argv, *flags], env=env, cwd=workdir, ok_codes=(0, 1))
            requests = proxy.api_requests()
            found[label] = {
                "count": len(requests),
                "endpoints": dict(Counter(r.endpoint for r in requests)),
                "kib": round(sum(r.response_bytes for r in requests) / 1024, 1),
            }
            report = json.loads((workdir / "report.json").read_text())
            charts = report.get("charts") or {}
            found[label]["charts"] = {
                "trends": len(charts.get("trends", [])),
                "curves": len(charts.get("curves", [])),
                "history_points": [len(t["points"]) for t in charts.get("trends", [])],
            }
    return found


def section(measured: dict[int, dict[str, Any]]) -> str:
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    lines = [
        "## The charts' cost: MLflow requests of `compare` with and without charts (issue 14)",
        "",
        f"`python -m bench.bench_charts` on {when} ({os.cpu_count()} CPUs, load {load}): `ci-track compare --run-id`",
        "as the GitHub Action runs it on a pull request, `best` champion, through the counting proxy, once with",
        "`--no-charts` and once with the charts (the default).",
        "",
        "| runs | requests without charts | with charts | added | goal | met? | what the charts added |",
        "|---:|---:|---:|---:|---|---|---|",
    ]
    added = {}
    for size, m in measured.items():
        extra = Counter(m["with"]["endpoints"]) - Counter(m["without"]["endpoints"])
        added[size] = m["with"]["count"] - m["without"]["count"]
        met = added[size] <= EXTRA_LIMIT and len(set(added.values())) == 1
        what = ", ".join(f"{count} x {endpoint}" for endpoint, count in sorted(extra.items()))
        lines.append(
            f"| {m['runs']:,} | {m['without']['count']} ({m['without']['kib']:,} KiB) | {m['with']['count']} "
            f"({m['with']['kib']:,} KiB) | {added[size]} | <= {EXTRA_LIMIT}, the same at both sizes | "
            f"{'yes' if met else '**no**'} | {what} |"
        )
    charts = {size: m["with"]["charts"] for size, m in measured.items()}
    lines += [
        "",
        "The charts drawn: "
        + "; ".join(
            f"{measured[size]['runs']:,} runs: {c['trends']} trends ({', '.join(map(str, c['history_points']))} points)"
            f", {c['curves']} training curve(s)"
            for size, c in charts.items()
        )
        + ". The history is one bounded `runs/search` (the base branch's last 20 complete runs, the search the",
        "noise-aware gate makes; a compare with a sigma rule reads it once for both), the curve one",
        "`metrics/get-history-bulk-interval` for candidate and champion; neither grows with the experiment.",
        "With `best`, the champion lookup searches the same window for its own ranking first; sharing that",
        "answer would save one more request.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    work = (Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "bench-charts").resolve()
    work.mkdir(parents=True, exist_ok=True)
    measured = {size: measure(size, work) for size in SIZES}
    (work / "charts.json").write_text(json.dumps(measured, indent=1))
    print(section(measured))
    return 0


if __name__ == "__main__":
    sys.exit(main())
