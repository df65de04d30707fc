"""ci-track: every commit an MLflow run, every pull request a metric diff against the champion."""

__version__ = "0.1.0"
