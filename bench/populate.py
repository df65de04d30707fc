"""Builds (and caches) an MLflow sqlite store holding one experiment of N realistic CI runs.

Creating 20,000 runs through the REST API takes the better part of an hour on this machine, so
the store is made in bulk instead:

1. MLflow's own `SqlAlchemyStore` creates the database (all migrations of the installed mlflow,
   so `mlflow server` accepts it as is) and the experiment;
2. the runs, tags, params, metrics and latest_metrics rows are inserted with `sqlite3.executemany`,
   with exactly the column values `SqlAlchemyStore.create_run`/`log_batch` write (checked against
   the schema of mlflow 3.17); `latest_metrics` is what the server's search orders by;
3. the result is checked by counting rows, and cached as `bench/.cache/mlflow-<N>-v<FORMAT>.db`
   with a JSON sidecar naming the special runs. A benchmark copies it before starting a server.

The runs look like what `ci-track run` writes on GitHub Actions (see ci_track/tracking/tags.py): 30% are
pushes to `main`, 70% belong to pull requests (`ci.pr_number`, feature branches, `ci.base_sha`);
93% FINISHED, 5% FAILED and 2% KILLED (those without metrics); metrics rmse, r2, mae that drift
better over time; three params. The best FINISHED `main` run carries `ci.champion=true` (as
`ci-track promote` leaves it). The newest run is the candidate: a PR run at CANDIDATE_SHA whose
rmse and r2 are 5% worse than the champion's, so every way of comparing must say "regression".
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import CACHE_DIR

if TYPE_CHECKING:
    from tests.mlflow_server import MlflowServer

FORMAT = 1  # bump when the generated data changes, so stale caches are not reused
EXPERIMENT = "bench"
BASE_BRANCH = "main"
REPOSITORY = "octo-org/ml-repo"
CANDIDATE_SHA = "c0ffee1234567890abcdef1234567890abcdef01"
CANDIDATE_BRANCH = "feature/bench-candidate"
CANDIDATE_PR = 4242
T0_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z


@dataclasses.dataclass(frozen=True)
class Population:
    db_path: Path
    experiment_id: str
    runs: int
    candidate_run_id: str
    champion_run_id: str  # best FINISHED main run by rmse, also tagged ci.champion=true
    champion_metrics: dict[str, float]
    candidate_metrics: dict[str, float]
    base_sha: str  # the candidate's merge-base: the newest main commit
    seconds_to_build: float

    @property
    def candidate_sha(self) -> str:
        return CANDIDATE_SHA


def _sha(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def populated_db(runs: int, *, log: Callable[[str], None] = print) -> Population:
    """The cached store for `runs` runs, built first when missing."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    db_path = CACHE_DIR / f"mlflow-{runs}-v{FORMAT}.db"
    meta_path = db_path.with_suffix(".json")
    if db_path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        return Population(db_path=db_path, **meta)
    log(f"  building an MLflow store of {runs:,} runs (cached in {db_path.relative_to(CACHE_DIR.parent.parent)})")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tmp:
        tmp_db = Path(tmp) / "mlflow.db"
        meta = _build(tmp_db, runs)
        meta["seconds_to_build"] = round(time.perf_counter() - started, 1)
        shutil.move(str(tmp_db), db_path)
    meta_path.write_text(json.dumps(meta, indent=1))
    log(f"  built in {meta['seconds_to_build']} s")
    return Population(db_path=db_path, **meta)


def _create_store(db: Path) -> str:
    """Tables of the installed mlflow and the experiment, through MLflow's own store API."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{db}", str(db.parent / "artifacts"))
    experiment_id = store.create_experiment(EXPERIMENT)
    store.engine.dispose()
    return str(experiment_id)


def _build(db: Path, runs: int) -> dict[str, Any]:
    experiment_id = _create_store(db)
    rng = random.Random(runs)  # the same store for the same size, every time
    connection = sqlite3.connect(db)
    (artifact_location,) = connection.execute(
        "SELECT artifact_location FROM experiments WHERE experiment_id = ?", (int(experiment_id),)
    ).fetchone()

    run_rows: list[tuple[object, ...]] = []
    tag_rows: list[tuple[str, str, str]] = []
    param_rows: list[tuple[str, str, str]] = []
    metric_rows: list[tuple[str, float, int, str, int, int]] = []
    latest_rows: list[tuple[str, float, int, int, int, str]] = []
    main_sha = _sha(rng)
    best: tuple[float, str, dict[str, float]] | None = None
    pr_branches = max(1, runs // 8)  # about 5-6 runs per pull request

    def add_run(i: int, *, branch: str, sha: str, pr: int | None, status: str, metrics: dict[str, float] | None) -> str:
        run_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
        start = T0_MS + i * 600_000 + rng.randrange(60_000)
        end = start + 60_000 + rng.randrange(600_000)
        short = sha[:7]
        name = f"pr-{pr}@{short}" if pr is not None else f"{branch}@{short}"
        build_id = str(10_000_000 + i)
        user = f"dev-{rng.randrange(17)}"
        run_rows.append(
            (
                run_id, name, "UNKNOWN", "", "", user, status, start, end, "",
                "active", f"{artifact_location}/{run_id}/artifacts", int(experiment_id), None,
            )
        )  # fmt: skip
        tags = {
            "mlflow.runName": name,
            "mlflow.user": user,
            "mlflow.source.type": "JOB",
            "mlflow.source.name": "python train.py",
            "mlflow.source.git.commit": sha,
            "mlflow.source.git.branch": branch,
            "mlflow.source.git.repoURL": f"https://github.com/{REPOSITORY}",
            "mlflow.note.content": f"Tracked by ci-track (github, {'pull_request' if pr else 'push'}) "
            f"on branch {branch} at commit {sha[:12]}.",
            "ci.provider": "github",
            "ci.event": "pull_request" if pr is not None else "push",
            "ci.build_url": f"https://github.com/{REPOSITORY}/actions/runs/{build_id}",
            "ci.build_id": build_id,
            "ci.run_attempt": "1",
            "ci.repository": REPOSITORY,
            "ci.exit_code": "0" if status == "FINISHED" else "1",
        }
        if pr is not None:
            tags |= {"ci.pr_number": str(pr), "ci.base_branch": BASE_BRANCH, "ci.base_sha": main_sha}
        tag_rows.extend((key, value, run_id) for key, value in tags.items())
        param_rows.extend(
            (key, value, run_id)
            for key, value in {
                "alpha": f"{rng.choice([0.01, 0.03, 0.1, 0.3, 1.0])}",
                "l1_ratio": f"{rng.choice([0.1, 0.5, 0.9])}",
                "n_estimators": str(rng.choice([100, 200, 400])),
            }.items()
        )
        for key, value in (metrics or {}).items():
            metric_rows.append((key, value, end, run_id, 0, 0))
            latest_rows.append((key, value, end, 0, 0, run_id))
        return run_id

    for i in range(runs - 1):
        progress = i / runs
        status = rng.choices(["FINISHED", "FAILED", "KILLED"], weights=[93, 5, 2])[0]
        metrics = None
        if status == "FINISHED":
            rmse = 60.0 - 6.0 * progress + rng.gauss(0, 2.0)
            metrics = {
                "rmse": round(rmse, 4),
                "r2": round(0.35 + 0.15 * progress + rng.gauss(0, 0.03), 4),
                "mae": round(rmse * 0.8 + rng.gauss(0, 1.0), 4),
            }
        if rng.random() < 0.3:
            main_sha = _sha(rng)
            run_id = add_run(i, branch=BASE_BRANCH, sha=main_sha, pr=None, status=status, metrics=metrics)
            if metrics is not None and (best is None or metrics["rmse"] < best[0]):
                best = (metrics["rmse"], run_id, metrics)
        else:
            k = rng.randrange(pr_branches)
            add_run(i, branch=f"feature/topic-{k}", sha=_sha(rng), pr=100 + k, status=status, metrics=metrics)
    if best is None:
        raise RuntimeError(f"{runs} runs gave no FINISHED main run: use more runs")
    _, champion_run_id, champion_metrics = best
    tag_rows.append(("ci.champion", "true", champion_run_id))
    candidate_metrics = {
        "rmse": round(champion_metrics["rmse"] * 1.05, 4),  # 5% worse
        "r2": round(champion_metrics["r2"] * 0.95, 4),  # 5% worse
        "mae": round(champion_metrics["mae"] * 1.05, 4),
    }
    candidate_run_id = add_run(
        runs - 1, branch=CANDIDATE_BRANCH, sha=CANDIDATE_SHA, pr=CANDIDATE_PR, status="FINISHED",
        metrics=candidate_metrics,
    )  # fmt: skip

    with connection:
        connection.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, "
            "start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id, deleted_time) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            run_rows,
        )
        connection.executemany('INSERT INTO tags ("key", value, run_uuid) VALUES (?, ?, ?)', tag_rows)
        connection.executemany('INSERT INTO params ("key", value, run_uuid) VALUES (?, ?, ?)', param_rows)
        connection.executemany(
            'INSERT INTO metrics ("key", value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)',
            metric_rows,
        )
        connection.executemany(
            'INSERT INTO latest_metrics ("key", value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, ?, ?)',
            latest_rows,
        )
    (count,) = connection.execute("SELECT COUNT(*) FROM runs WHERE experiment_id = ?", (int(experiment_id),)).fetchone()
    connection.close()
    if count != runs:
        raise RuntimeError(f"expected {runs} runs in the store, found {count}")
    return {
        "experiment_id": experiment_id,
        "runs": runs,
        "candidate_run_id": candidate_run_id,
        "champion_run_id": champion_run_id,
        "champion_metrics": champion_metrics,
        "candidate_metrics": candidate_metrics,
        "base_sha": main_sha,
    }


@contextlib.contextmanager
def serving(population: Population, root: Path) -> Iterator[MlflowServer]:
    """A real `mlflow server` (one worker, sqlite) on a private copy of the population's store."""
    from tests.mlflow_server import running_server

    root.mkdir(parents=True, exist_ok=True)
    db = root / "mlflow.db"
    shutil.copyfile(population.db_path, db)
    with running_server(root, backend_uri=f"sqlite:///{db}") as server:
        yield server
