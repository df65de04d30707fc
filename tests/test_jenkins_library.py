"""The Jenkins shared library (jenkins_plugin/): it compiles, its Groovy step tests pass, its Jenkinsfiles lint clean.

No Jenkins can run here, so the library is checked the way the notes describe:
- `groovyc` (Groovy 2.4, the line Jenkins core embeds) compiles every vars/ and src/ file;
- jenkins_plugin/test/run_tests.groovy runs the JUnit step tests, in which the pipeline steps are
  stubs and `sh` runs real bash against a fake `ci-track` that records its argv;
- npm-groovy-lint (CodeNarc, Groovy 3 parser) lints the example Jenkinsfiles.
Each test is skipped only when its tool is not installed, and says which.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
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
    tmp_path: Path, *extra_classpath: Path, classes: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    classpath = os.pathsep.join(["src", "test", *map(str, extra_classpath)])
    return subprocess.run(
        ["groovy", "-cp", classpath, "test/run_tests.groovy", *classes],
        cwd=LIBRARY,
        env=java_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@needs_groovy
def test_every_library_file_compiles_with_groovyc(tmp_path: Path) -> None:
    sources = library_sources()
    assert [p.relative_to(LIBRARY).as_posix() for p in sources[:1]] == ["vars/ciTrack.groovy"]
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
    assert (out / "ciTrack.class").is_file()
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
