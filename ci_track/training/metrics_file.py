"""Reads the metrics a training command wrote to a JSON or YAML file into `MetricPoint`s.

Accepted shapes (keys of nested mappings are joined with "." like DVC does):
- flat scalars: `{"rmse": 0.5}`; nested: `{"test": {"rmse": 0.5}}` -> `test.rmse`
- a top-level integer `"step"` (DVCLive's metrics.json) sets the step of the file's scalars
  and is not itself logged
- a list of numbers: `{"loss": [0.9, 0.5]}` -> `loss` at steps 0 and 1
- a list of records: `{"loss": [{"value": 0.9, "step": 0}]}`, or DVC plots style
  `{"train": [{"step": 0, "loss": 0.9, "acc": 0.7}]}` (and a top-level list of such records):
  every field but `step` and `timestamp` is a metric; the field `value` is the parent key itself.
  A record without `step` takes its position in the list.
Values are numbers or the strings "NaN", "Infinity", "-Infinity" (YAML's .nan/.inf too).
Anything else (booleans, null, other strings) is a ConfigError naming the key path and file,
as is a key MLflow would refuse.
"""

from __future__ import annotations

import dataclasses
import json
import math
import posixpath
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ci_track.errors import TOO_DEEP, ConfigError

MAX_KEY_LENGTH = 250  # MLflow's limit for metric, param and tag keys
# MLflow's portable key alphabet (the server on Linux also accepts ":", Windows servers do not).
_VALID_KEY = re.compile(r"^[/\w.\- ]+$")
_SPECIAL_VALUES = {"nan": math.nan, "infinity": math.inf, "+infinity": math.inf, "-infinity": -math.inf}
_RECORD_META = ("step", "timestamp")


@dataclasses.dataclass(frozen=True)
class MetricPoint:
    key: str
    value: float
    step: int = 0
    timestamp: int | None = None  # ms since the epoch; None: the logger fills in "now"


def key_problem(key: str) -> str | None:
    """Why MLflow would refuse `key` as a metric or param key, or None when it is fine."""
    if not key:
        return "is empty"
    if len(key) > MAX_KEY_LENGTH:
        return f"is longer than {MAX_KEY_LENGTH} characters"
    if not _VALID_KEY.match(key):
        return "may only contain letters, digits, '_', '-', '.', '/' and spaces"
    normalized = posixpath.normpath(key)
    if normalized != key or normalized == "." or normalized.startswith(("..", "/")):
        # MLflow treats keys as file names in places; it refuses ones that resolve elsewhere.
        return f"would resolve to the path {normalized!r}"
    return None


def read_metrics_file(path: Path) -> list[MetricPoint]:
    """All metric points in `path`, in file order; ConfigError on anything that is not a metric."""
    try:
        data = _parse(path)
        points = list(_points(data, path))
    except RecursionError:  # json, PyYAML and the walk over nested mappings all recurse
        raise ConfigError(f"metrics file {path} is {TOO_DEEP}") from None
    if not points:
        raise ConfigError(f"metrics file {path} contains no metrics")
    for point in points:
        problem = key_problem(point.key)
        if problem:
            raise ConfigError(f"metric key {point.key[:300]!r} in {path} {problem}")
    return points


def metric_records(path: Path) -> list[dict[str, Any]]:
    """The file the command was asked to write, as MLflow's log-batch metrics; ConfigError when it did not."""
    if not path.exists():
        raise ConfigError(f"metrics file {path} was not written by the command")
    return [{"key": p.key, "value": p.value, "step": p.step, "timestamp": p.timestamp} for p in read_metrics_file(path)]


def _parse(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
        raise ConfigError(f"cannot read metrics file {path}: {reason}") from None
    if not text.strip():
        raise ConfigError(f"metrics file {path} is empty")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _parse_json(text, path)
    if suffix in (".yaml", ".yml"):
        return _parse_yaml(text, path)
    try:
        return _parse_json(text, path)
    except ConfigError:
        try:
            return _parse_yaml(text, path)
        except ConfigError:
            raise ConfigError(f"metrics file {path} is neither valid JSON nor valid YAML") from None


def _parse_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)  # accepts bare NaN / Infinity tokens, as Python writes them
    except ValueError as error:
        line = getattr(error, "lineno", None)
        where = f" (line {line})" if line else ""
        raise ConfigError(f"metrics file {path} is not valid JSON{where}") from None


def _parse_yaml(text: str, path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"metrics file {path} is not valid YAML{where}") from None


def _points(data: Any, path: Path) -> Iterator[MetricPoint]:
    if data is None:
        raise ConfigError(f"metrics file {path} is empty")
    if isinstance(data, list):
        yield from _series("", data, path)
        return
    if not isinstance(data, Mapping):
        raise ConfigError(f"metrics file {path} must hold a mapping of metric names to values")
    step = 0
    if "step" in data and not isinstance(data["step"], (Mapping, list)):
        step = _step(data["step"], "step", path)
        data = {k: v for k, v in data.items() if k != "step"}
    yield from _mapping("", data, step, path)


def _mapping(prefix: str, data: Mapping[Any, Any], step: int, path: Path) -> Iterator[MetricPoint]:
    for raw_key, value in data.items():
        key = _join(prefix, _key_text(raw_key, prefix, path))
        if isinstance(value, Mapping):
            yield from _mapping(key, value, step, path)
        elif isinstance(value, list):
            yield from _series(key, value, path)
        else:
            yield MetricPoint(key, _number(value, key, path), step)


def _series(key: str, values: list[Any], path: Path) -> Iterator[MetricPoint]:
    """A metric history: numbers (step = position) or records with their own step."""
    if not key and any(not isinstance(v, Mapping) for v in values):
        raise ConfigError(
            f'metrics file {path} is a list of values without a metric name: write {{"name": [...]}} instead'
        )
    for index, item in enumerate(values):
        where = f"{key}[{index}]" if key else f"[{index}]"
        if isinstance(item, Mapping):
            yield from _record(key, item, index, where, path)
        elif isinstance(item, list):
            raise ConfigError(f"{where} in metrics file {path} is a nested list, expected a number or a record")
        else:
            yield MetricPoint(key, _number(item, where, path), index)


def _record(key: str, record: Mapping[Any, Any], index: int, where: str, path: Path) -> Iterator[MetricPoint]:
    step = _step(record["step"], f"{where}.step", path) if "step" in record else index
    timestamp = _timestamp(record.get("timestamp"), f"{where}.timestamp", path)
    fields = [(name, value) for name, value in record.items() if name not in _RECORD_META]
    if not fields:
        raise ConfigError(f"{where} in metrics file {path} has a step but no metric value")
    for raw_name, value in fields:
        name = _key_text(raw_name, where, path)
        field_key = key if name == "value" and key else _join(key, name)
        if isinstance(value, (Mapping, list)):
            raise ConfigError(f"{where}.{name} in metrics file {path} must be a number, got a nested structure")
        yield MetricPoint(field_key, _number(value, f"{where}.{name}", path), step, timestamp)


def _number(value: Any, where: str, path: Path) -> float:
    if isinstance(value, bool):  # bool is an int in Python; true/false is not a measurement
        raise ConfigError(f"metric {where!r} in {path} must be a number, got the boolean {str(value).lower()}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in _SPECIAL_VALUES:
        return _SPECIAL_VALUES[value.strip().lower()]
    shown = "null" if value is None else repr(value)[:80]
    raise ConfigError(f"metric {where!r} in {path} must be a number, got {shown}")


def _step(value: Any, where: str, path: Path) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ConfigError(f"{where} in metrics file {path} must be an integer, got {value!r}")


def _timestamp(value: Any, where: str, path: Path) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ConfigError(f"{where} in metrics file {path} must be milliseconds since the epoch, got {value!r}")


def _key_text(raw_key: Any, prefix: str, path: Path) -> str:
    # YAML keys can be ints or floats (`1: 0.5`); true/false/null keys are almost surely mistakes.
    if isinstance(raw_key, str):
        return raw_key
    if isinstance(raw_key, (int, float)) and not isinstance(raw_key, bool):
        return str(raw_key)
    inside = f" under {prefix!r}" if prefix else ""
    raise ConfigError(f"metrics file {path} has a non-text key {raw_key!r}{inside}")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
