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


def test_a_full_bench_run_keeps_the_sections_other_benchmarks_wrote() -> None:
    from bench.run_all import kept_sections

    previous = (
        "# ci-track benchmark results\n\n## Machine\n\n| a | b |\n\n## Figures\n\nold table\n\n"
        "## Goals missed\n\nnone\n\n## Training reuse\n\n| trainings | 68 |\n\n## The charts' cost\n\n2 more\n"
    )
    kept = kept_sections(previous)
    assert "## Training reuse\n\n| trainings | 68 |" in kept and "## The charts' cost\n\n2 more" in kept
    assert "old table" not in kept and "## Machine" not in kept and "# ci-track" not in kept
    assert kept_sections("") == ""
