"""The copy-ready GitLab and Bitbucket pipeline files: lint clean, shown verbatim by their docs, and saying
what the docs promise (the MR/PR trigger, the full clone, the reports, no secret in the file)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli_helpers import REPO_ROOT

GITLAB = REPO_ROOT / "workflows" / "gitlab" / ".gitlab-ci.yml"
BITBUCKET = REPO_ROOT / "workflows" / "bitbucket" / "bitbucket-pipelines.yml"
DOCS = {GITLAB: REPO_ROOT / "docs" / "gitlab.md", BITBUCKET: REPO_ROOT / "docs" / "bitbucket.md"}


def yamllint() -> str:
    found = shutil.which("yamllint") or str(Path(sys.executable).parent / "yamllint")
    return found


@pytest.mark.parametrize("path", [GITLAB, BITBUCKET], ids=["gitlab", "bitbucket"])
def test_the_pipeline_file_lints_and_its_doc_shows_it_verbatim(path: Path) -> None:
    result = subprocess.run(
        [yamllint(), "--strict", "-c", ".yamllint.yml", str(path.relative_to(REPO_ROOT))],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS[path].read_text(), flags=re.DOTALL)
    assert path.read_text() in blocks, f"{DOCS[path].name} does not show {path.name} as it is"
    header = path.read_text().split("\n\n", 1)[0]
    assert "When to use" in header and "What to replace" in header


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


def test_the_gitlab_gate_runs_on_merge_requests_with_history_and_both_reports() -> None:
    document = load(GITLAB)
    gate = document["ci-track-gate"]
    assert gate["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert document["variables"]["GIT_DEPTH"] == "0"
    assert gate["artifacts"]["when"] == "always"
    assert gate["artifacts"]["reports"] == {
        "junit": "ci-track-report/junit.xml",
        "metrics": "ci-track-report/metrics.txt",
    }
    compare = next(line for line in gate["script"] if line.startswith("ci-track compare"))
    assert "--junit-output ci-track-report/junit.xml" in compare
    assert "--gitlab-metrics-output ci-track-report/metrics.txt" in compare
    assert "TOKEN" not in GITLAB.read_text().split("\nvariables:", 1)[1]  # tokens are masked variables, not here


def test_the_bitbucket_gate_runs_on_pull_requests_with_a_full_clone() -> None:
    document = load(BITBUCKET)
    (gate,) = document["pipelines"]["pull-requests"]["**"]
    step = gate["step"]
    assert step["clone"] == {"depth": "full"}
    assert any("--junit-output test-results/" in line for line in step["script"])
    assert "TOKEN" not in BITBUCKET.read_text().split("\nimage:", 1)[1]
