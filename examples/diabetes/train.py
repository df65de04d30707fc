"""Sample training script: an ElasticNet on scikit-learn's bundled diabetes data set.

It is an ordinary MLflow script: it calls `mlflow.start_run()` and knows nothing about CI.
Under `ci-track run` that call resumes the run ci-track created for the commit. It also writes
`metrics.json`, the DVC-style file `ci-track run --metrics-file` can log.
"""

from __future__ import annotations

import argparse
import json
import time

import mlflow
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--l1-ratio", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--log-model", default="true")
    parser.add_argument("--metrics-out", default="metrics.json")
    args = parser.parse_args()

    features, target = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(features, target, test_size=0.25, random_state=args.seed)

    with mlflow.start_run():
        mlflow.log_params({"alpha": args.alpha, "l1_ratio": args.l1_ratio, "seed": args.seed})
        started = time.perf_counter()
        model = ElasticNet(alpha=args.alpha, l1_ratio=args.l1_ratio, random_state=args.seed)
        model.fit(x_train, y_train)
        train_time = time.perf_counter() - started
        predicted = model.predict(x_test)
        metrics = {
            "rmse": float(np.sqrt(mean_squared_error(y_test, predicted))),
            "mae": float(mean_absolute_error(y_test, predicted)),
            "r2": float(r2_score(y_test, predicted)),
        }
        mlflow.log_metrics({**metrics, "train_time_s": train_time})
        if args.log_model.lower() == "true":
            mlflow.sklearn.log_model(model, name="model", input_example=x_test[:2])
        with open(args.metrics_out, "w", encoding="utf-8") as out:
            json.dump({"test": metrics}, out, indent=2)
        print(json.dumps(metrics))


if __name__ == "__main__":
    main()
