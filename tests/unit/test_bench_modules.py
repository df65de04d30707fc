"""Every benchmark module imports: a bench that fails on import is found here, not on the next measuring day.

The benchmarks (bench/) are not run by the suite (they measure, and their goals are not timed tests);
importing them checks that what they use from ci_track and from each other still exists.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
MODULES = sorted(p.stem for p in BENCH.glob("*.py") if p.stem != "__init__")


def test_the_benchmarks_are_found() -> None:
    assert {"run_all", "bench_floor", "decision_quality_e2e", "reuse_replay"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_benchmark_module_imports(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    assert module.__doc__, f"bench/{name}.py says in its docstring what it measures"
