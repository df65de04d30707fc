"""The action's entry script runs without ci_track importable, so it keeps copies of a few words: they must agree."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from ci_track import vocabulary
from ci_track.ci.github_actions import command_data
from ci_track.cli_values import split_key_value

ENTRY = Path(__file__).resolve().parents[2] / "action" / "entry.py"


@pytest.fixture(scope="module")
def entry() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_track_action_entry_copy", ENTRY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_entry_script_imports_only_the_standard_library() -> None:
    text = ENTRY.read_text()
    assert "from ci_track" not in text and "import ci_track" not in text


def test_the_entry_scripts_choices_are_ci_tracks(entry: ModuleType) -> None:
    assert entry.COMMENT_MODES == vocabulary.COMMENT_MODES
    assert entry.CHAMPION_STRATEGIES == vocabulary.CHAMPION_STRATEGIES
    assert entry.NO_CHAMPION_POLICIES == vocabulary.NO_CHAMPION_POLICIES
    assert entry.MISSING_POLICIES == vocabulary.MISSING_POLICIES


@pytest.mark.parametrize("text", ["plain", "100% done", "line\nbreak", "cr\rlf\n::error::x", "%0A already"])
def test_the_entry_script_escapes_workflow_commands_as_ci_track_does(entry: ModuleType, text: str) -> None:
    assert entry.command_data(text) == command_data(text)


KEY_VALUES = ["a=b", "a==b", "a=", "=v", " =v", "novalue", "", " k = v ", "k\t=v", "path=/x=y", "ÿ=ü", "=", "k=\n"]


@pytest.mark.parametrize("text", KEY_VALUES)
def test_the_entry_script_reads_key_value_as_ci_track_does(entry: ModuleType, text: str) -> None:
    assert entry.split_key_value(text) == split_key_value(text)


def test_the_entry_script_rejects_the_key_values_ci_track_rejects(entry: ModuleType) -> None:
    for text in KEY_VALUES:
        if not text.strip():
            continue  # the action reads one item per non-blank line: a blank line is no item
        rejected = split_key_value(text.strip()) is None
        try:
            entry._key_values(text, "tags")
        except entry.InputError as error:
            assert rejected, text
            assert str(error) == f"`tags` wants one KEY=VALUE per line, got {text.strip()!r}"
        else:
            assert not rejected, text
