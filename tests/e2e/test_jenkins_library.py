"""The Jenkins shared library (jenkins_plugin/): it compiles, its Groovy step tests pass, its Jenkinsfiles lint clean.

No Jenkins can run here, so the library is checked the way the notes describe:
- `groovyc` (Groovy 2.4, the line Jenkins core embeds) compiles every vars/ and src/ file;
- jenkins_plugin/test/run_tests.groovy runs the JUnit step tests, in which the pipeline steps are
  stubs and `sh` runs real bash against a fake `ci-track` that records its argv;
- npm-groovy-lint (CodeNarc, Groovy 3 parser) lints the example Jenkinsfiles;
- jenkins_plugin/test/CiTrackSourceInstallIT.groovy installs ci-track the default way, from a real git
  repository of this checkout with a real pip, using only the package sources on this machine.
Each test is skipped only when its tool is not installed, and says which.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.cli_helpers import git

REPO_ROOT = Path(__file__).resolve().parents[2]
LIBRARY = REPO_ROOT / "jenkins_plugin"
EXAMPLES = sorted((LIBRARY / "examples").glob("Jenkinsfile.*"))
DEBIAN_JAVA_HOME = Path("/usr/lib/jvm/java-17-openjdk-amd64")
GROOVY_LINT = REPO_ROOT / "node_modules" / ".bin" / "npm-groovy-lint"

needs_groovy = pytest.mark.skipif(
    shutil.which("groovy") is None or shutil.which("groovyc") is None,
    reason="groovy/groovyc are not installed (apt-get install groovy)",
)
needs_groovy_lint = pytest.mark.skipif(
    shutil.which("npx") is None or not GROOVY_LINT.exists(),
    reason="npx or npm-groovy-lint is not installed (npm ci in the repository root)",
)

pytestmark = pytest.mark.slow


def java_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    if "JAVA_HOME" not in env and DEBIAN_JAVA_HOME.is_dir():
        env["JAVA_HOME"] = str(DEBIAN_JAVA_HOME)
    # The Groovy tests make their temporary workspaces under the test's own directory.
    env["JAVA_OPTS"] = f"{env.get('JAVA_OPTS', '')} -Dcitrack.tmpdir={tmp_path}".strip()
    env["HOME"] = str(tmp_path)  # groovy writes ~/.groovy; keep it out of the real home
    return env


def library_sources() -> list[Path]:
    return sorted(LIBRARY.glob("vars/*.groovy")) + sorted(LIBRARY.glob("src/**/*.groovy"))


def run_groovy_tests(
    tmp_path: Path, *extra_classpath: Path, classes: tuple[str, ...] = (), properties: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    classpath = os.pathsep.join(["src", "test", *map(str, extra_classpath)])
    env = java_env(tmp_path)
    if properties:
        # JAVA_OPTS is split on spaces: multi-line or spaced values go through a properties file instead
        options = tmp_path / "it.properties"
        options.write_text("".join(f"{key}={_escape_property(value)}\n" for key, value in properties.items()))
        env["JAVA_OPTS"] += f" -Dcitrack.it.properties={options}"
    return subprocess.run(
        ["groovy", "-cp", classpath, "test/run_tests.groovy", *classes],
        cwd=LIBRARY,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _escape_property(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace(":", "\\:").replace("=", "\\=")


@needs_groovy
def test_every_library_file_compiles_with_groovyc(tmp_path: Path) -> None:
    sources = library_sources()
    steps = ("ciTrack", "ciTrackCompare", "ciTrackPromote", "ciTrackRollback", "ciTrackRun")
    assert [p.relative_to(LIBRARY).as_posix() for p in sources[:5]] == [f"vars/{name}.groovy" for name in steps]
    out = tmp_path / "classes"
    completed = subprocess.run(
        ["groovyc", "-d", str(out), "-cp", "src", *[str(p.relative_to(LIBRARY)) for p in sources]],
        cwd=LIBRARY,
        env=java_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    for name in steps:
        assert (out / f"{name}.class").is_file()
    for source in LIBRARY.glob("src/**/*.groovy"):
        compiled = out / source.relative_to(LIBRARY / "src").with_suffix(".class")
        assert compiled.is_file(), f"{source} produced no {compiled}"


@needs_groovy
def test_groovy_step_tests_all_pass(tmp_path: Path) -> None:
    completed = run_groovy_tests(tmp_path)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    summary = completed.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"(\d+) passed, (\d+) failed", summary)
    assert match, output
    declared = sum(path.read_text(encoding="utf-8").count("@Test") for path in (LIBRARY / "test").glob("*Test.groovy"))
    assert (int(match.group(1)), int(match.group(2))) == (declared, 0), output
    assert declared >= 60


@needs_groovy
def test_the_groovy_runner_exits_1_when_a_test_fails(tmp_path: Path) -> None:
    # `groovy SomeTest.groovy` exits 0 on failures; the runner must not.
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "AlwaysFailsTest.groovy").write_text(
        "import org.junit.Test\nclass AlwaysFailsTest {\n    @Test\n    void fails() { assert 1 == 2 }\n}\n",
        encoding="utf-8",
    )
    completed = run_groovy_tests(tmp_path, extra, classes=("AlwaysFailsTest",))
    assert completed.returncode == 1
    assert completed.stdout.strip().splitlines()[-1] == "0 passed, 1 failed"
    assert "FAILED fails(AlwaysFailsTest)" in completed.stdout


@needs_groovy_lint
def test_example_jenkinsfiles_pass_npm_groovy_lint(tmp_path: Path) -> None:
    assert [p.name for p in EXAMPLES] == ["Jenkinsfile.pr-gate", "Jenkinsfile.promote"]
    completed = subprocess.run(
        [
            "npx",
            "--no-install",
            "npm-groovy-lint",
            "--noserver",  # without it the linter leaves a Java server listening on 127.0.0.1:7484
            "--failon",
            "error",
            "--output",
            "json",
            *map(str, EXAMPLES),
        ],
        cwd=REPO_ROOT,
        env={**java_env(tmp_path), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(completed.stdout)
    assert report["summary"]["totalFilesLinted"] == len(EXAMPLES)
    assert report["summary"]["totalFoundErrorNumber"] == 0
    assert report["summary"]["totalFoundWarningNumber"] == 0, report["files"]


def _local_pip_sources() -> dict[str, str]:
    """PIP_* variables that let pip use only this machine's package sources (no network), or {} if it has none.

    The machine's pip configuration is read (`pip config list`); only file:// indexes and local
    find-links directories are kept, and PIP_CONFIG_FILE=/dev/null drops everything else.
    """
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60, check=False
    ).stdout
    indexes: list[str] = []
    find_links: list[str] = []
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        values = value.strip().strip("'\"").split()
        if key.endswith((".index-url", ".extra-index-url")):
            indexes += [v for v in values if v.startswith("file:")]
        elif key.endswith(".find-links"):
            find_links += [v for v in values if not re.match(r"^[a-z]+://", v) and Path(v).is_dir()]
    if not indexes and not find_links:
        return {}
    env = {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    if indexes:
        env["PIP_INDEX_URL"] = indexes[0]
        if indexes[1:]:
            env["PIP_EXTRA_INDEX_URL"] = " ".join(dict.fromkeys(indexes[1:]))
    else:
        env["PIP_NO_INDEX"] = "1"
    if find_links:
        env["PIP_FIND_LINKS"] = " ".join(dict.fromkeys(find_links))
    return env


@needs_groovy
def test_default_install_builds_ci_track_from_the_loaded_revision_of_the_library_repository(tmp_path: Path) -> None:
    pip_env = _local_pip_sources()
    if not pip_env:
        pytest.skip("pip has no local package source (file:// index or find-links directory) on this machine")
    # The dependencies are not all on this machine's package sources; the ones this interpreter has
    # installed stand in for an agent's index: pip installs only ci-track (from Git; setuptools for
    # the build comes from the local sources) and ci-track imports requests & co. from PYTHONPATH.
    # ci_track itself is not importable from there (the test venv holds it as an editable finder,
    # which only a .pth in a site directory activates), so the installed copy is the one that runs.
    agent_env = {
        **pip_env,
        "PIP_NO_DEPS": "1",
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))),
    }
    # The library's repository as Jenkins would load it: a clone of this checkout at HEAD, tagged,
    # and then moved on, so that installing the branch tip instead of the tag would show.
    clone = tmp_path / "library"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(REPO_ROOT), str(clone)], check=True, timeout=120)
    git(clone, "checkout", "--quiet", "-B", "main", git(REPO_ROOT, "rev-parse", "HEAD"))
    init = clone / "ci_track" / "__init__.py"
    version = re.search(r'__version__ = "([^"]+)"', init.read_text(encoding="utf-8"))
    assert version, init
    git(clone, "tag", "-a", "v-loaded", "-m", "the revision Jenkins loaded")
    commit = git(clone, "rev-parse", "v-loaded^{commit}")
    init.write_text(init.read_text(encoding="utf-8").replace(version.group(0), '__version__ = "9.9.9.dev0"'))
    git(clone, "commit", "--quiet", "-am", "main moves on after the tag")

    completed = run_groovy_tests(
        tmp_path,
        classes=("CiTrackSourceInstallIT",),
        properties={
            "citrack.it.repository": str(clone),
            "citrack.it.tag": "v-loaded",
            "citrack.it.commit": commit,
            "citrack.it.version": version.group(1),
            "citrack.it.python": sys.executable,
            "citrack.it.agentEnv": "\n".join(f"{key}={value}" for key, value in agent_env.items()),
        },
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert completed.stdout.strip().splitlines()[-1] == "1 passed, 0 failed", output
