"""The mlflow-client way: the decision `ci-track compare` makes, as a user would script it with `mlflow.search_runs`.

Run as a CI step would run it (`python bench/mlflow_way.py ...`): the `import mlflow` is part of
the measured time, because a CI step pays it. It finds the candidate (the newest FINISHED run of
the head commit), the base branch's champion (the best FINISHED run of the base branch that is
not a PR run, by the first rule's metric), compares every rule's metric and exits 1 on a
regression, printing the decision as JSON so the benchmark can check both ways agree.

- default (the way the issue describes, and the usual script): `search_runs` over the base
  branch returns every matching run (mlflow pages through them, 1,000 a request, into a
  DataFrame) and pandas picks the best;
- `--tuned`: the same lookups pushed to the server (order_by + max_results=1), what a careful
  user writes; it shows what is left once the search is cheap: mlflow's import.
"""

from __future__ import annotations

import argparse
import json
import sys

import mlflow


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--head-sha", required=True)
    parser.add_argument("--base-branch", default="main")
    parser.add_argument("--rule", action="append", required=True, metavar="METRIC:minimize|maximize:TOLERANCE")
    parser.add_argument("--tuned", action="store_true")
    args = parser.parse_args()
    rules = []
    for text in args.rule:
        metric, goal, tolerance = text.split(":")
        rules.append((metric, goal, float(tolerance)))
    first_metric, first_goal, _ = rules[0]

    candidates = mlflow.search_runs(
        experiment_names=[args.experiment],
        filter_string=f"tags.`mlflow.source.git.commit` = '{args.head_sha}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if candidates.empty:
        print(json.dumps({"error": "no candidate run"}))
        return 2
    candidate = candidates.iloc[0]

    base_filter = f"tags.`mlflow.source.git.branch` = '{args.base_branch}' and attributes.status = 'FINISHED'"
    direction = "ASC" if first_goal == "minimize" else "DESC"
    if args.tuned:
        base = mlflow.search_runs(
            experiment_names=[args.experiment],
            filter_string=base_filter + " and tags.`ci.pr_number` IS NULL",
            order_by=[f"metrics.`{first_metric}` {direction}", "attributes.start_time DESC"],
            max_results=1,
        )
    else:
        base = mlflow.search_runs(experiment_names=[args.experiment], filter_string=base_filter)
        if "tags.ci.pr_number" in base.columns:
            base = base[base["tags.ci.pr_number"].isna()]
        base = base.dropna(subset=[f"metrics.{first_metric}"])
        base = base.sort_values(
            [f"metrics.{first_metric}", "start_time"], ascending=[first_goal == "minimize", False]
        ).head(1)
    if base.empty:
        print(json.dumps({"error": "no champion"}))
        return 0
    champion = base.iloc[0]

    regressions = []
    for metric, goal, tolerance in rules:
        ours, theirs = candidate[f"metrics.{metric}"], champion[f"metrics.{metric}"]
        change = (ours - theirs) / abs(theirs) if theirs else 0.0
        worse = change > tolerance if goal == "minimize" else change < -tolerance
        if worse:
            regressions.append(metric)
    print(
        json.dumps(
            {
                "candidate": candidate["run_id"],
                "champion": champion["run_id"],
                "regressions": regressions,
            }
        )
    )
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
