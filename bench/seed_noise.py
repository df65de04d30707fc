"""Run-to-run noise of real training: small scikit-learn models trained across seeds (no network).

`python bench/seed_noise.py [--seeds 50] [--output bench/data/seed_noise.json]` trains, for every
seed, the same code on scikit-learn's bundled data sets and records each metric:

- `diabetes_elasticnet`: the project's own sample model (examples/diabetes/train.py: ElasticNet,
  alpha 0.01, l1_ratio 0.5, a 25% test split); the seed picks the split (`train_test_split`'s
  `random_state`), as `--seed` does in the sample. Metrics rmse, mae (minimize), r2 (maximize).
- `breast_cancer_forest`: a RandomForestClassifier (100 trees) on the breast cancer data set;
  the seed picks the split *and* the forest's bootstrap and feature draws. Metrics accuracy,
  roc_auc (maximize), log_loss (minimize).
- `diabetes_forest_fixed_split`: a RandomForestRegressor (100 trees) on one fixed split (seed 0);
  the seed only changes the model's initialisation, the case of a CI whose data split is pinned.
  Metric rmse.

It writes every value with the seed it came from, each metric's mean, sample standard deviation,
skewness and excess kurtosis (Fisher: 0 for a normal distribution), and whether the tails are
heavy: excess kurtosis more than two standard errors (sqrt(24/n)) above 0. bench/decision_quality.py
draws its simulated noise from these values. Nothing here is part of the ci_track runtime.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import ElasticNet
from sklearn.metrics import accuracy_score, log_loss, mean_absolute_error, mean_squared_error, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "data" / "seed_noise.json"
FIRST_SEED = 1000  # seeds FIRST_SEED .. FIRST_SEED + n - 1; not 42, so the sample's default seed is no special case

Metrics = dict[str, float]


def diabetes_elasticnet(seed: int) -> Metrics:
    features, target = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(features, target, test_size=0.25, random_state=seed)
    model = ElasticNet(alpha=0.01, l1_ratio=0.5, random_state=seed).fit(x_train, y_train)
    predicted = model.predict(x_test)
    return {
        "rmse": float(np.sqrt(mean_squared_error(y_test, predicted))),
        "mae": float(mean_absolute_error(y_test, predicted)),
        "r2": float(r2_score(y_test, predicted)),
    }


def breast_cancer_forest(seed: int) -> Metrics:
    features, target = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=0.25, random_state=seed, stratify=target
    )
    model = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1).fit(x_train, y_train)
    probability = model.predict_proba(x_test)[:, 1]
    return {
        "accuracy": float(accuracy_score(y_test, probability >= 0.5)),
        "roc_auc": float(roc_auc_score(y_test, probability)),
        "log_loss": float(log_loss(y_test, probability)),
    }


def diabetes_forest_fixed_split(seed: int) -> Metrics:
    features, target = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(features, target, test_size=0.25, random_state=0)
    model = RandomForestRegressor(n_estimators=100, random_state=seed, n_jobs=1).fit(x_train, y_train)
    return {"rmse": float(np.sqrt(mean_squared_error(y_test, model.predict(x_test))))}


MODELS: dict[str, tuple[Callable[[int], Metrics], dict[str, str], str]] = {
    "diabetes_elasticnet": (
        diabetes_elasticnet,
        {"rmse": "minimize", "mae": "minimize", "r2": "maximize"},
        "examples/diabetes (ElasticNet); the seed picks the 25% test split",
    ),
    "breast_cancer_forest": (
        breast_cancer_forest,
        {"accuracy": "maximize", "roc_auc": "maximize", "log_loss": "minimize"},
        "RandomForestClassifier(100 trees); the seed picks the stratified 25% split and the forest's draws",
    ),
    "diabetes_forest_fixed_split": (
        diabetes_forest_fixed_split,
        {"rmse": "minimize"},
        "RandomForestRegressor(100 trees) on a fixed split; the seed changes the initialisation only",
    ),
}


def shape(values: list[float]) -> dict[str, float | bool]:
    """Mean, sample sd, skewness and excess kurtosis (moment estimators), and the heavy-tail call."""
    n = len(values)
    mean = statistics.fmean(values)
    sd = statistics.stdev(values)
    centred = [v - mean for v in values]
    m2 = sum(c * c for c in centred) / n
    m3 = sum(c**3 for c in centred) / n
    m4 = sum(c**4 for c in centred) / n
    skew = m3 / m2**1.5 if m2 > 0 else 0.0
    kurt = m4 / m2**2 - 3.0 if m2 > 0 else 0.0
    kurt_se = math.sqrt(24.0 / n)
    return {
        "mean": mean,
        "sd": sd,
        "cv_percent": 100.0 * sd / abs(mean) if mean else math.inf,
        "skewness": skew,
        "excess_kurtosis": kurt,
        "kurtosis_se": kurt_se,
        "heavy_tailed": kurt > 2 * kurt_se,
        "max_abs_z": max(abs(c) for c in centred) / sd if sd > 0 else 0.0,
        "distinct_values": len(set(values)),
    }


def measure(seeds: list[int]) -> dict[str, object]:
    metrics: dict[str, object] = {}
    timings: dict[str, float] = {}
    for model_name, (train, goals, how) in MODELS.items():
        started = time.perf_counter()
        per_seed = [train(seed) for seed in seeds]
        timings[model_name] = round(time.perf_counter() - started, 2)
        for metric, goal in goals.items():
            values = [run[metric] for run in per_seed]
            metrics[f"{model_name}.{metric}"] = {"model": how, "goal": goal, **shape(values), "values": values}
    return {"metrics": metrics, "seconds_per_model": timings}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    if args.seeds < 30:
        parser.error("--seeds must be at least 30 (the benchmark's own floor)")
    seeds = list(range(FIRST_SEED, FIRST_SEED + args.seeds))
    started = time.perf_counter()
    measured = measure(seeds)
    document = {
        "how": (
            f"python bench/seed_noise.py --seeds {args.seeds}: each model trained once per seed "
            f"{seeds[0]}..{seeds[-1]}; values[i] is the metric of seeds[i]"
        ),
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "scikit_learn": sklearn.__version__,
        "numpy": np.__version__,
        "seeds": seeds,
        "seconds": round(time.perf_counter() - started, 1),
        **measured,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"{'metric':42} {'mean':>10} {'sd':>10} {'cv%':>6} {'skew':>6} {'ex.kurt':>8} heavy  max|z|")
    for name, info in document["metrics"].items():  # type: ignore[attr-defined]
        print(
            f"{name:42} {info['mean']:10.4g} {info['sd']:10.4g} {info['cv_percent']:6.2f} {info['skewness']:6.2f} "
            f"{info['excess_kurtosis']:8.2f} {'yes' if info['heavy_tailed'] else 'no ':5} {info['max_abs_z']:6.2f}"
        )
    print(f"wrote {args.output} in {document['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
