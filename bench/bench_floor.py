"""`ci-track compare` against its floor: a standard-library script making the same MLflow requests.

On a small experiment the server answers in milliseconds, so what a compare costs is mostly
ci-track's own start: the interpreter, the imports, reading the CI context and the rules. The
floor is bench/stdlib_floor.py, which sends exactly the requests one compare made (recorded
through the counting proxy), so the ratio is what ci-track adds on top of asking the same
questions. Both are whole processes, timed side by side in interleaved rounds; the import profile
of the compare says where the rest of the time goes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.bench_compare import CONFIG, candidate_pr_env, compare_argv
from bench.common import (
    BenchContext,
    Command,
    CommandFailed,
    Figure,
    commit_config,
    failed,
    import_profile,
    make_checkout,
    median,
    run_once,
    spread,
    time_interleaved,
)
from bench.populate import EXPERIMENT, populated_db, serving
from tests.fakes.fault_proxy import counting_proxy

FLOOR_LIMIT = 2.0  # compare's wall time / the floor's, issue 12
SMALL = 20  # runs: a small experiment, where the server's share is smallest
FLOOR_SCRIPT = Path(__file__).with_name("stdlib_floor.py")
# What a compare on a pull request imports from its dependencies (pyproject.toml's, chosen for the job):
# the MLflow client's HTTP library, the markdown template, the console table, the rules file (the base
# commit's rules are read by the git executable: nothing imported).
DEPENDENCIES = "requests,jinja2,tabulate,yaml"


def run(ctx: BenchContext) -> list[Figure]:
    name = f"`compare` on a small experiment vs a stdlib script making the same requests, median of {ctx.repeat}"
    goal = f"<= {FLOOR_LIMIT:g}x the floor"
    label = "bench/stdlib_floor.py, the same requests"
    try:
        population = populated_db(SMALL, log=ctx.log)
        workdir = make_checkout(ctx.work / "floor")
        rules_commit = commit_config(workdir, CONFIG.format(experiment=EXPERIMENT))
        with serving(population, workdir / "server") as server:

            def env_for(tracking_uri: str) -> dict[str, str]:
                return candidate_pr_env(workdir, population, rules_commit, tracking_uri)

            argv = compare_argv(workdir)
            with counting_proxy(server.url) as proxy:
                run_once(argv, env=env_for(proxy.url), cwd=workdir, ok_codes=(0, 1))
                recorded = [
                    {"method": r.method, "path": r.path, "body": r.body.decode("utf-8", "replace")}
                    for r in proxy.requests
                ]
            requests_file = workdir / "requests.json"
            requests_file.write_text(json.dumps(recorded))
            floor_argv = [sys.executable, str(FLOOR_SCRIPT), server.url, str(requests_file)]
            deps_argv = [sys.executable, str(FLOOR_SCRIPT), "--import", DEPENDENCIES, server.url, str(requests_file)]
            run_once(floor_argv, cwd=workdir)  # the floor must get the same answers, or it measures nothing
            ctx.log(f"  compare vs its stdlib floor ({len(recorded)} requests), interleaved, {ctx.repeat} rounds")
            samples = time_interleaved(
                {
                    "compare": Command(argv, env_for(server.url), workdir, (0, 1)),
                    "floor": Command(floor_argv, None, workdir),
                    "dependencies": Command(deps_argv, None, workdir),
                },
                repeat=ctx.repeat,
            )
            importing, costliest = import_profile(argv[1:], env=env_for(server.url), cwd=workdir, ok_codes=(0, 1))
    except (CommandFailed, RuntimeError, OSError, ValueError) as error:
        return [failed(name, "s", str(error), goal=goal, comparison_label=label)]
    ours, floor, deps = median(samples["compare"]), median(samples["floor"]), median(samples["dependencies"])
    ratio = ours / floor
    endpoints = ", ".join(r["path"].split("?", 1)[0].rsplit("/mlflow/", 1)[-1] for r in recorded)
    libraries = ", ".join(f"{lib} {seconds:.3f} s" for lib, seconds in costliest)
    return [
        Figure(
            name,
            ours,
            "s",
            comparison=floor,
            comparison_label=f"{label} ({floor:.3f} s)",
            goal=goal,
            met=ratio <= FLOOR_LIMIT,
            ratio=ratio,
            note=(
                f"compare {spread(samples['compare'])}; floor {spread(samples['floor'])}; "
                f"the floor importing compare's dependencies first ({DEPENDENCIES}) {deps:.3f} s, "
                f"{deps / floor:.2f}x the floor ({spread(samples['dependencies'])}); requests: {endpoints}; "
                f"importing: {importing:.3f} s under -X importtime ({libraries})"
            ),
            samples=samples["compare"],
        )
    ]
