"""scripts/demo.py end to end, as a newcomer runs it: its own MLflow server, the sample repository, the reports.

The demo leaves report.md, report.json and report.txt (the console table) in its output directory, names
that directory on its last line, and prints the compare verdict once (compare's own last line).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import REPO_ROOT, base_env

DEMO = REPO_ROOT / "scripts" / "demo.py"


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEMO), *args],
        cwd=REPO_ROOT,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.mark.slow
def test_the_demo_leaves_its_reports_and_names_the_folder_last(tmp_path: Path) -> None:
    results = tmp_path / "results"
    completed = run_demo("--output-dir", str(results))
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    lines = completed.stdout.rstrip().splitlines()

    assert sorted(path.name for path in results.iterdir() if not path.name.startswith(".")) == [
        "report.json",
        "report.md",
        "report.txt",
    ]
    assert lines[-1].endswith(f" are in {results}"), lines[-1]

    report = json.loads((results / "report.json").read_text())
    assert report["verdict"] == "regression"
    assert "<!-- ci-track:diabetes-elasticnet -->" in (results / "report.md").read_text()
    table = (results / "report.txt").read_text().rstrip().splitlines()
    assert table[0].split()[:3] == ["metric", "champion", "candidate"]
    verdict = table[-1]
    assert verdict.startswith("verdict: regression"), verdict
    # The compare verdict is printed once (by compare); the demo only says what exit code 1 does.
    assert [line for line in lines if line.startswith("verdict: regression")] == [verdict]
    assert "exit code 1: CI fails this step and the merge is blocked" in lines
    # The scratch work (sample repository, server data) is gone without --keep.
    assert not (results / "work").exists()


def test_the_demo_will_not_replace_a_directory_it_did_not_make(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("mine")
    completed = run_demo("--output-dir", str(precious))
    assert completed.returncode != 0
    assert f"demo: {precious} exists and was not made by the demo; choose another --output-dir" in completed.stderr
    assert (precious / "notes.txt").read_text() == "mine"


def test_demo_results_are_git_ignored() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "demo-results/report.md"], cwd=REPO_ROOT, check=False
    ).returncode
    assert ignored == 0
