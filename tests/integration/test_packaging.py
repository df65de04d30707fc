"""The wheel is what a Python user expects, and the version and repository name are each written once.

The wheel is built from a copy of the sources (nothing written into the work tree), offline, with the
test venv's setuptools (`--no-build-isolation`; the dev dependency group brings setuptools>=77).
"""

from __future__ import annotations

import email.parser
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ci_track import __version__
from tests.cli_helpers import REPO_ROOT, base_env

REPOSITORY = "https://github.com/ci-track/ci-track"
# What a wheel build needs of the checkout: the same list the action's checkout must hold (tests/act_harness.py).
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "ci_track")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    setuptools_version = importlib.metadata.version("setuptools")
    if int(setuptools_version.split(".")[0]) < 77:
        pytest.fail(f"setuptools {setuptools_version} in the test venv; the dev group needs >=77 (run scripts/setup)")
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO_ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")} | {"PIP_CONFIG_FILE": os.devnull}
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    completed = subprocess.run(
        [*pip_wheel, "-w", str(out), str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    (built,) = out.glob("ci_track-*.whl")
    return built


def metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        return email.parser.Parser().parsestr(archive.read(f"ci_track-{__version__}.dist-info/METADATA").decode())


def test_the_wheel_ships_the_license_the_type_marker_the_template_and_the_schema(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        license_text = archive.read(f"ci_track-{__version__}.dist-info/licenses/LICENSE").decode()
    assert {
        "ci_track/py.typed",
        "ci_track/report/templates/report.md.j2",
        "ci_track/schemas/ci-track.schema.json",
    } <= names
    assert license_text == (REPO_ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License\n\nCopyright (c) 2026 the ci-track authors\n")
    # No test files, benchmarks or scripts in the package.
    assert {name.split("/")[0] for name in names} == {"ci_track", f"ci_track-{__version__}.dist-info"}


def test_the_wheel_metadata_has_the_version_license_urls_and_classifiers(wheel: Path) -> None:
    meta = metadata(wheel)
    assert meta["Name"] == "ci-track"
    assert meta["Version"] == __version__
    assert meta["License-Expression"] == "MIT"
    assert meta["Requires-Python"] == ">=3.10"
    urls = dict(value.split(", ", 1) for value in meta.get_all("Project-URL", []))
    assert urls == {
        "Homepage": REPOSITORY,
        "Repository": REPOSITORY,
        "Issues": f"{REPOSITORY}/issues",
        "Documentation": f"{REPOSITORY}#readme",
    }
    classifiers = set(meta.get_all("Classifier", []))
    assert {f"Programming Language :: Python :: 3.{minor}" for minor in range(10, 14)} <= classifiers
    assert "Typing :: Typed" in classifiers
    assert any(c.startswith("Topic :: ") for c in classifiers)
    assert "mlflow" in meta["Keywords"].split(",")
    # Development tools are a dependency group, not something a user's `pip install ci-track[...]` offers.
    assert meta.get_all("Provides-Extra") == ["mlflow"]


def test_the_version_is_written_once_and_everything_that_names_it_agrees() -> None:
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert re.search(r'^dynamic = \["version"\]', pyproject, re.MULTILINE)
    assert re.search(r'^version = \{attr = "ci_track.__version__"\}', pyproject, re.MULTILINE)
    assert not re.search(r'^version = "', pyproject, re.MULTILINE)

    completed = subprocess.run(
        [sys.executable, "-m", "ci_track", "--version"], env=base_env(), capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == f"ci-track {__version__}"
    # The Jenkins library installs the revision it was loaded from, so it names no version of its own.
    library = "\n".join(p.read_text() for p in (REPO_ROOT / "jenkins_plugin" / "src").rglob("*.groovy"))
    assert __version__ not in library and "DEFAULT_VERSION" not in library
    # The JSON schema's example shows the version.
    schema_doc = (REPO_ROOT / "docs" / "json-report-schema.md").read_text()
    assert f'"tool": {{"name": "ci-track", "version": "{__version__}"}}' in schema_doc


def user_facing_files() -> list[Path]:
    files = [REPO_ROOT / "README.md", REPO_ROOT / "action.yml"]
    for folder in ("docs", "workflows", ".github/workflows", "jenkins_plugin"):
        files += [p for p in (REPO_ROOT / folder).rglob("*") if p.suffix in (".md", ".yml", ".yaml", ".groovy")]
    files += list((REPO_ROOT / "jenkins_plugin").rglob("Jenkinsfile*"))
    # The Groovy unit tests pass made-up versions to the library on purpose.
    return sorted({p for p in files if (REPO_ROOT / "jenkins_plugin" / "test") not in p.parents})


def test_install_and_uses_lines_name_one_repository_and_no_release_that_does_not_exist() -> None:
    """One repository name; action and installs pinned to a commit; ci-track is not on a package index."""
    problems = []
    for path in user_facing_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            where = f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
            for other in re.findall(r"github\.com/([\w.-]+/ci-track)\b|\b([\w.-]+/ci-track)@", line):
                name = next(filter(None, other))
                if name != "ci-track/ci-track":
                    problems.append(f"another repository name: {where}")
            if re.search(r"ci-track(/[\w./-]+)?@v\d", line) or re.search(r"ci-track==\d", line):
                problems.append(f"a release that is not published: {where}")
            if re.search(r"pip install (-U |--upgrade )?['\"]?ci-track\b(?!\s*@)(?!\[)", line):
                problems.append(f"`pip install ci-track` from an index: {where}")
    assert problems == []
