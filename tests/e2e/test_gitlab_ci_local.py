"""The copy-ready .gitlab-ci.yml (workflows/gitlab/.gitlab-ci.yml, the one docs/gitlab.md shows) run by
gitlab-ci-local, offline, against the session's MLflow server and the fake GitLab.

gitlab-ci-local (npm, pinned in package.json) validates the file against GitLab's own CI schema and
runs its jobs; `--force-shell-executor` runs the `image: python:3.11` job on this host instead of in
Docker (there is none here). Two things this machine needs for it, and the test skips naming the
missing one: rsync (gitlab-ci-local copies the project with it; scripts/setup installs it), and the
`Set.prototype` methods of Node 22 (`union`...), which gitlab-ci-local 4.75.1 calls at start-up:
Node 20 lacks them, so the test preloads tests/gitlab_ci_local/set-methods.mjs, a spec-following
polyfill. The MR pipeline's variables are the ones GitLab sets (gitlab-ci-local sets a push
pipeline's, and GITLAB_CI=false); the job installs ci-track from a copy of this checkout, offline (PIP_NO_INDEX, its
dependencies are the test venv's), into a directory of its own, and runs the file's script unchanged.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ci_track.report.text import comment_marker
from tests.cli_helpers import REPO_ROOT, base_env, git, init_repo
from tests.fakes import fake_gitlab
from tests.fakes.fake_gitlab import running_fake_gitlab
from tests.mlflow_server import MlflowServer
from tests.reliability_scenarios import make_run

pytestmark = pytest.mark.slow

PIPELINE = REPO_ROOT / "workflows" / "gitlab" / ".gitlab-ci.yml"
GITLAB_CI_LOCAL = REPO_ROOT / "node_modules" / "gitlab-ci-local" / "dist" / "index.js"
POLYFILL = REPO_ROOT / "tests" / "gitlab_ci_local" / "set-methods.mjs"
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "ci_track")  # what a wheel build needs (test_packaging.py)
PROJECT = "ml-team/models/churn"

TRAIN = """\
import json, pathlib
pathlib.Path("metrics.json").write_text(json.dumps({"accuracy": 0.86}))
"""


def missing_tool() -> str | None:
    if shutil.which("node") is None or not GITLAB_CI_LOCAL.is_file():
        return "node or gitlab-ci-local is not installed (npm ci in the repository root)"
    if shutil.which("rsync") is None:
        return "rsync is not installed (gitlab-ci-local copies the project with it; scripts/setup installs it)"
    return None


def test_the_copy_ready_gitlab_ci_yml_gates_a_merge_request(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    reason = missing_tool()
    if reason:
        pytest.skip(reason)
    experiment = f"gitlab-ci-local-{uuid.uuid4().hex[:8]}"
    make_run(mlflow_server.url, experiment, branch="main", sha="b" * 40, metrics={"accuracy": 0.85})
    project = tmp_path / "project"
    init_repo(
        project,
        {
            ".gitlab-ci.yml": PIPELINE.read_text(),
            "train.py": TRAIN.replace("0.86", "0.80"),
            "requirements.txt": "# the model's own requirements\n",
            ".ci-track.yml": f"experiment: {experiment}\nmetrics:\n  accuracy: {{goal: maximize}}\n",
        },
    )
    base = git(project, "rev-parse", "HEAD")
    git(project, "checkout", "-q", "-b", "feature")
    (project / "train.py").write_text(TRAIN)
    git(project, "commit", "-qam", "a better model")
    head = git(project, "rev-parse", "HEAD")
    git(project, "remote", "add", "origin", f"https://gitlab.example.com/{PROJECT}.git")

    source = tmp_path / "ci-track-source"  # pip builds in the tree it is given: a copy, not the checkout
    source.mkdir()
    for name in SOURCES:
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO_ROOT / name, source / name)
    target = tmp_path / "site"
    with running_fake_gitlab(project=PROJECT, iid=None) as fake:
        fake.add_mr(PROJECT, 7, sha=head, notes=3)
        variables = {
            # what GitLab sets in a detached merge request pipeline (gitlab-ci-local sets a push pipeline's,
            # and GITLAB_CI=false so that scripts can tell a local run)
            "GITLAB_CI": "true",
            "CI_PIPELINE_SOURCE": "merge_request_event",
            "CI_API_V4_URL": f"{fake.url}/api/v4",
            "CI_PROJECT_ID": "42",
            "CI_MERGE_REQUEST_IID": "7",
            "CI_MERGE_REQUEST_PROJECT_ID": "42",
            "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "42",
            "CI_MERGE_REQUEST_PROJECT_PATH": PROJECT,
            "CI_MERGE_REQUEST_PROJECT_URL": f"{fake.url}/{PROJECT}",
            "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature",
            "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": head,
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
            "CI_MERGE_REQUEST_DIFF_BASE_SHA": base,
            "CI_MERGE_REQUEST_EVENT_TYPE": "detached",
            # the project's masked variables
            "MLFLOW_TRACKING_URI": mlflow_server.url,
            "CI_TRACK_GITLAB_TOKEN": fake_gitlab.DEFAULT_TOKEN,
            # install this checkout instead of the pinned commit, offline, beside the test venv
            "CI_TRACK_REQUIREMENT": str(source),
            "PIP_NO_INDEX": "1",
            "PIP_NO_DEPS": "1",
            "PIP_NO_BUILD_ISOLATION": "off",  # sic: pip reads its no- options inverted from the environment
            "PIP_TARGET": str(target),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
        command = ["node", "--import", str(POLYFILL), str(GITLAB_CI_LOCAL), "--force-shell-executor"]
        command += ["--ignore-predefined-vars", "GITLAB_CI,CI_PIPELINE_SOURCE,CI_API_V4_URL,CI_PROJECT_ID"]
        for name, value in variables.items():
            command += ["--variable", f"{name}={value}"]
        env = base_env(
            HOME=str(tmp_path / "home"),
            # the job's python is the test venv's; the ci-track it runs is the one it installed
            PATH=f"{target / 'bin'}:{Path(sys.executable).parent}:/usr/bin:/bin",
            PYTHONPATH=str(target),
        )
        completed = subprocess.run(
            command, cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        notes = fake.notes_on(PROJECT, 7)
        statuses = list(fake.statuses)
        fake.assert_no_violations()
    log = completed.stdout + completed.stderr
    assert completed.returncode == 0, log
    assert "PASS  ci-track-gate" in log and "ci-track-promote" not in log  # the MR job only
    ours = [n for n in notes if comment_marker(experiment) in n["body"]]
    assert len(ours) == 1 and len(notes) == 4, log
    assert [(s["sha"], s["name"], s["status"]) for s in statuses] == [(head, f"ci-track/{experiment}", "success")]
    report = project / "ci-track-report"
    cases = ET.parse(report / "junit.xml").getroot().findall(".//testcase")  # noqa: S314 - our own file
    assert [c.get("name") for c in cases] == ["accuracy"] and not any(c.find("failure") is not None for c in cases)
    assert (report / "metrics.txt").read_text() == "accuracy 0.86\nci_track_regressions 0\n"
    assert json.loads((report / "report.json").read_text())["pr_number"] == 7
    assert fake_gitlab.DEFAULT_TOKEN not in log
