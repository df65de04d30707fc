"""Metrics files: every accepted JSON/YAML shape, and a one-line ConfigError for everything else."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ci_track.errors import ConfigError
from ci_track.training.metrics_file import MetricPoint, key_problem, read_metrics_file


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_flat_json_metrics_are_logged_at_step_zero(tmp_path: Path) -> None:
    path = write(tmp_path, "metrics.json", '{"rmse": 0.5, "r2": 1, "mae": -2.25e-3}')

    assert read_metrics_file(path) == [
        MetricPoint("rmse", 0.5),
        MetricPoint("r2", 1.0),
        MetricPoint("mae", -0.00225),
    ]


def test_nested_mappings_join_keys_with_dots(tmp_path: Path) -> None:
    path = write(tmp_path, "metrics.json", '{"test": {"rmse": 0.5, "by_city": {"new york": 0.7}}, "train/loss": 0.1}')

    assert read_metrics_file(path) == [
        MetricPoint("test.rmse", 0.5),
        MetricPoint("test.by_city.new york", 0.7),
        MetricPoint("train/loss", 0.1),
    ]


def test_yaml_file_with_nested_metrics(tmp_path: Path) -> None:
    path = write(tmp_path, "metrics.yaml", "test:\n  rmse: 0.5\n  mae: 3\nval:\n  rmse: 0.6\n")

    assert read_metrics_file(path) == [
        MetricPoint("test.rmse", 0.5),
        MetricPoint("test.mae", 3.0),
        MetricPoint("val.rmse", 0.6),
    ]


def test_list_of_numbers_is_a_history_with_steps_from_zero(tmp_path: Path) -> None:
    path = write(tmp_path, "history.json", '{"loss": [0.9, 0.5, 0.3]}')

    assert read_metrics_file(path) == [
        MetricPoint("loss", 0.9, 0),
        MetricPoint("loss", 0.5, 1),
        MetricPoint("loss", 0.3, 2),
    ]


def test_list_of_value_records_keeps_their_steps_and_timestamps(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "history.json",
        '{"val": {"loss": [{"value": 0.8, "step": 10}, {"value": 0.4, "step": 20, "timestamp": 1741086137000}]}}',
    )

    assert read_metrics_file(path) == [
        MetricPoint("val.loss", 0.8, 10),
        MetricPoint("val.loss", 0.4, 20, 1741086137000),
    ]


def test_dvc_plots_records_log_every_non_step_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "plots.json",
        '{"train": [{"step": 0, "loss": 0.9, "acc": 0.6}, {"step": 1, "loss": 0.4, "acc": 0.8}]}',
    )

    assert read_metrics_file(path) == [
        MetricPoint("train.loss", 0.9, 0),
        MetricPoint("train.acc", 0.6, 0),
        MetricPoint("train.loss", 0.4, 1),
        MetricPoint("train.acc", 0.8, 1),
    ]


def test_top_level_list_of_records_without_steps_uses_positions(tmp_path: Path) -> None:
    path = write(tmp_path, "plots.json", '[{"loss": 0.9}, {"loss": 0.4}]')

    assert read_metrics_file(path) == [MetricPoint("loss", 0.9, 0), MetricPoint("loss", 0.4, 1)]


def test_dvclive_summary_step_sets_the_step_of_its_scalars(tmp_path: Path) -> None:
    path = write(tmp_path, "metrics.json", '{"step": 9, "train": {"loss": 0.1}, "acc": 0.9}')

    assert read_metrics_file(path) == [MetricPoint("train.loss", 0.1, 9), MetricPoint("acc", 0.9, 9)]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("special.json", '{"a": "NaN", "b": "Infinity", "c": "-Infinity"}'),
        ("bare.json", '{"a": NaN, "b": Infinity, "c": -Infinity}'),
        ("special.yaml", "a: .nan\nb: .inf\nc: -.inf\n"),
    ],
)
def test_nan_and_infinities_are_accepted(name: str, text: str, tmp_path: Path) -> None:
    points = read_metrics_file(write(tmp_path, name, text))

    assert [p.key for p in points] == ["a", "b", "c"]
    assert math.isnan(points[0].value)
    assert points[1].value == math.inf
    assert points[2].value == -math.inf


@pytest.mark.parametrize(
    ("name", "text"),
    [("metrics.txt", '{"rmse": 0.5}'), ("metrics.out", "rmse: 0.5\n"), ("metrics", "rmse: 0.5")],
)
def test_unknown_extensions_try_json_then_yaml(name: str, text: str, tmp_path: Path) -> None:
    assert read_metrics_file(write(tmp_path, name, text)) == [MetricPoint("rmse", 0.5)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"test": {"rmse": "0.5"}}', "'test.rmse'"),
        ('{"test": {"passed": true}}', "boolean"),
        ('{"rmse": null}', "null"),
        ('{"loss": [0.5, "high"]}', "'loss[1]'"),
        ('{"train": [{"step": 0, "loss": "x"}]}', "'train[0].loss'"),
    ],
)
def test_non_numeric_values_are_rejected_with_the_key_path_and_file(text: str, expected: str, tmp_path: Path) -> None:
    path = write(tmp_path, "metrics.json", text)

    with pytest.raises(ConfigError) as error:
        read_metrics_file(path)
    message = str(error.value)
    assert expected in message
    assert str(path) in message
    assert "\n" not in message


@pytest.mark.parametrize("text", ["", "   \n\n", "{}", "null", "# only a comment\n"])
def test_files_without_metrics_are_rejected(text: str, tmp_path: Path) -> None:
    name = "metrics.yaml" if text.startswith("#") else "metrics.json"
    path = write(tmp_path, name, text)

    with pytest.raises(ConfigError, match=r"metrics file .* (is empty|contains no metrics)"):
        read_metrics_file(path)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("metrics.json", '{"rmse": 0.5,}', "not valid JSON"),
        ("metrics.yaml", "rmse: [0.5\n", "not valid YAML"),
        ("metrics.txt", "{rmse: [", "neither valid JSON nor valid YAML"),
        ("metrics.json", "[0.5, 0.4]", "without a metric name"),
        ("metrics.json", '"rmse"', "must hold a mapping"),
        ("metrics.json", '{"loss": [[1, 2]]}', "nested list"),
        ("metrics.json", '{"loss": [{"step": 1.5, "value": 2}]}', "must be an integer"),
        ("metrics.json", '{"loss": [{"step": 3}]}', "no metric value"),
        ("metrics.yaml", "true: 0.5\n", "non-text key"),
    ],
)
def test_malformed_files_are_config_errors_naming_the_file(name: str, text: str, expected: str, tmp_path: Path) -> None:
    path = write(tmp_path, name, text)

    with pytest.raises(ConfigError, match=expected) as error:
        read_metrics_file(path)
    assert str(path) in str(error.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read metrics file"):
        read_metrics_file(tmp_path / "absent.json")


@pytest.mark.parametrize(
    "key",
    ["rmse;drop", "a\nb", "x" * 251, "../escape", "/abs", "a//b", "trailing/", "$(id)"],
)
def test_keys_mlflow_would_refuse_are_rejected_by_name(key: str, tmp_path: Path) -> None:
    path = write(tmp_path, "metrics.json", json.dumps({key: 1.0}))

    with pytest.raises(ConfigError) as error:
        read_metrics_file(path)
    assert repr(key)[:40] in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "key", ["rmse", "test.rmse", "train/loss", "val loss", "f1-score_macro", "x" * 250, "précision"]
)
def test_keys_mlflow_accepts_pass(key: str) -> None:
    assert key_problem(key) is None
