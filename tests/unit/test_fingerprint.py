"""The training fingerprint (ci_track/training/fingerprint.py) over a real tiny git repository's object ids."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from ci_track.ci.git import TreeEntry, changed_paths, open_repo, tree_entries
from ci_track.commands._reuse import fingerprint_training, reuse_wanted
from ci_track.errors import ConfigError, UsageError
from ci_track.gate.config import Config, RunConfig, parse_config
from ci_track.training.fingerprint import (
    TrainingIdentity,
    fingerprint,
    pattern_regex,
    repo_pattern,
    resolve_inputs,
)
from tests.cli_helpers import commit_all, git, init_repo

FILES = {
    "train.py": "print('train')\n",
    "model.py": "class Model: ...\n",
    "config/train_small.py": "lr = 0.1\n",
    "data/shakespeare/prepare.py": "print('prepare')\n",
    "data/shakespeare/input.txt.dvc": "md5: 1234\n",
    "README.md": "# docs\n",
}


class Plan:
    """The fields of commands/run.py's TrainingPlan that the fingerprint reads."""

    def __init__(self, workdir: Path, argv: tuple[str, ...] = ("python", "train.py")) -> None:
        self.argv = list(argv)
        self.entry_point = None
        self.params: dict[str, str] = {}
        self.workdir = workdir


def _fp(
    repo: Path, inputs: tuple[str, ...], *, env: tuple[str, ...] = (), environ: dict | None = None, **kw
) -> str | None:
    config = Config(run=RunConfig(inputs=inputs, env_inputs=env))
    return fingerprint_training(
        config,
        cwd=kw.pop("cwd", repo),
        environ=environ or {},
        plan=kw.pop("plan", Plan(repo)),
        repeat=kw.pop("repeat", "1"),
        metrics_files=kw.pop("metrics_files", ()),
        announce=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    init_repo(path, FILES)
    return path


INPUTS = ("train.py", "model.py", "config/*.py", "data/**/*.dvc")


def test_same_inputs_same_fingerprint_and_unrelated_commits_keep_it(repo: Path) -> None:
    first = _fp(repo, INPUTS)
    assert first is not None and len(first) == 64
    (repo / "README.md").write_text("# more docs\n")
    (repo / "data/shakespeare/prepare.py").write_text("print('other')\n")  # not declared
    commit_all(repo, "docs")
    assert _fp(repo, INPUTS) == first


@pytest.mark.parametrize("path", ["train.py", "config/train_small.py", "data/shakespeare/input.txt.dvc"])
def test_a_change_to_any_declared_input_changes_it(repo: Path, path: str) -> None:
    first = _fp(repo, INPUTS)
    (repo / path).write_text("changed\n")
    commit_all(repo, "change")
    assert _fp(repo, INPUTS) != first


def test_command_repeat_metrics_files_patterns_and_env_are_part_of_it(repo: Path) -> None:
    base = _fp(repo, INPUTS, env=("DATA_VERSION",), environ={"DATA_VERSION": "v1"})
    assert base != _fp(repo, INPUTS, env=("DATA_VERSION",), environ={"DATA_VERSION": "v2"})
    assert base != _fp(repo, INPUTS, env=("DATA_VERSION",), environ={})  # unset differs from any value
    assert _fp(repo, INPUTS, env=("DATA_VERSION",), environ={}) != _fp(
        repo, INPUTS, env=("DATA_VERSION",), environ={"DATA_VERSION": ""}
    )
    plain = _fp(repo, INPUTS)
    assert plain != _fp(repo, INPUTS, plan=Plan(repo, ("python", "train.py", "--lr", "0.2")))
    assert plain != _fp(repo, INPUTS, repeat="3")
    assert plain != _fp(repo, INPUTS, metrics_files=(Path("metrics.json"),))
    assert plain != _fp(repo, ("train.py", "model.py"))  # fewer declared inputs never match more


def test_the_environment_value_is_hashed_never_stored() -> None:
    secret = "s3cr3t-value-never-stored"
    identity = TrainingIdentity(command=("python", "train.py"))
    value = fingerprint(
        patterns=("train.py",), files=(), env_names=("TOKEN",), environ={"TOKEN": secret}, identity=identity
    )
    assert secret not in value and len(value) == 64


def test_uncommitted_or_untracked_inputs_turn_reuse_off_with_a_notice(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "model.py").write_text("dirty\n")
    assert _fp(repo, INPUTS) is None
    assert (
        "training reuse is off for this run: input 'model.py' is changed since the commit (dirty)"
        in capsys.readouterr().err
    )
    git(repo, "checkout", "--", "model.py")
    (repo / "config/extra.py").write_text("new = 1\n")
    assert _fp(repo, INPUTS) is None
    err = capsys.readouterr().err
    assert "input 'config/extra.py' is untracked" in err and err.count("\n") == 1
    (repo / "config/extra.py").unlink()
    (repo / "README.md").write_text("dirty docs are no input\n")
    assert _fp(repo, INPUTS) is not None


def test_a_declared_file_git_does_not_track_turns_reuse_off(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / ".gitignore").write_text("weights.bin\n")
    commit_all(repo, "ignore")
    (repo / "weights.bin").write_bytes(b"\0")
    assert _fp(repo, (*INPUTS, "weights.bin")) is None
    assert "'weights.bin' is not tracked by git" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("data/*.csv", "run.inputs: 'data/*.csv' matches no file tracked by git at this commit"),
        ("../outside.py", "run.inputs: '../outside.py' is outside the repository"),
        ("/etc/passwd", "is an absolute path"),
        ("config/../../x", "is outside the repository"),
    ],
)
def test_bad_patterns_are_usage_errors(repo: Path, pattern: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        _fp(repo, ("train.py", pattern))
    assert message in str(caught.value)


def test_patterns_are_relative_to_the_run_directory(repo: Path) -> None:
    sub = repo / "config"
    from_root = _fp(repo, ("config/train_small.py",), plan=Plan(sub), cwd=repo)
    from_sub = _fp(repo, ("train_small.py",), plan=Plan(sub), cwd=sub)
    assert from_root == from_sub
    assert _fp(repo, ("../train.py",), cwd=sub) is not None  # up, but still inside the repository


def test_a_clone_missing_the_tree_objects_falls_back_to_training(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = git(repo, "rev-parse", "HEAD:config")
    (repo / ".git/objects" / tree[:2] / tree[2:]).unlink()
    assert _fp(repo, INPUTS) is None
    assert "the clone lacks the git objects of commit" in capsys.readouterr().err


def test_outside_a_repository_there_is_no_fingerprint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "train.py").write_text("x\n")
    assert _fp(tmp_path, ("train.py",)) is None
    assert "not a git repository" in capsys.readouterr().err
    with pytest.raises(UsageError, match="outside the repository"):
        _fp(tmp_path, ("../x.py",))


def test_tree_entries_and_status_are_git_s_own(repo: Path) -> None:
    handle = open_repo(repo, dict(os.environ))
    assert handle is not None
    entries = {e.path: e for e in tree_entries(handle, git(repo, "rev-parse", "HEAD")) or []}
    assert entries["train.py"].object_id == git(repo, "rev-parse", "HEAD:train.py")
    assert entries["train.py"].mode == "100644"
    (repo / "new.txt").write_text("n\n")
    (repo / "train.py").write_text("m\n")
    assert changed_paths(handle) == (frozenset({"train.py"}), frozenset({"new.txt"}))


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [
        ("*.py", "train.py", True),
        ("*.py", "config/a.py", False),
        ("**/*.py", "config/a.py", True),
        ("**/*.py", "a.py", True),
        ("data", "data/x/y.dvc", True),
        ("data", "database.py", False),
        ("config/train_?.py", "config/train_a.py", True),
        ("config/[!a]*.py", "config/a.py", False),
        ("", "anything/at/all", True),
    ],
)
def test_glob_semantics(pattern: str, path: str, hit: bool) -> None:
    assert bool(pattern_regex(pattern).fullmatch(path)) is hit


def test_resolve_inputs_is_pure() -> None:
    tree = [TreeEntry(path="a.py", mode="100644", object_id="1" * 40)]
    resolved = resolve_inputs(["a.py"], prefix=".", tree=tree, changed=(), untracked=())
    assert resolved.files == tuple(tree) and resolved.unusable is None and resolved.patterns == ("a.py",)
    assert repo_pattern("x/../y.py", "sub") == "sub/y.py"


def test_reuse_needs_declared_inputs_and_the_flags_win() -> None:
    configured = parse_config("run: {inputs: [train.py], reuse: true, env_inputs: [DATA_VERSION]}\n")
    assert configured.run.inputs == ("train.py",) and configured.run.env_inputs == ("DATA_VERSION",)
    assert reuse_wanted(argparse.Namespace(reuse=None), configured) is True
    assert reuse_wanted(argparse.Namespace(reuse=False), configured) is False
    with pytest.raises(UsageError, match=r"--reuse needs run\.inputs"):
        reuse_wanted(argparse.Namespace(reuse=True), Config())
    with pytest.raises(ConfigError, match=r"run\.reuse needs run\.inputs"):
        parse_config("run: {reuse: true}\n")
    with pytest.raises(ConfigError, match="is not an environment variable name"):
        parse_config("run: {inputs: [a], env_inputs: ['A-B']}\n")
