"""The command line itself: usage errors in one line with one prefix; a README synopsis that lists every option."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from ci_track.cli import build_parser
from tests.cli_helpers import REPO_ROOT, assert_clean_failure, base_env, ci_track


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("--formt",), "ci-track: error: unrecognized arguments: --formt (see ci-track --help)"),
        (
            ("compare", "--formt", "json"),
            "ci-track: error: unrecognized arguments: --formt json (see ci-track compare --help)",
        ),
        (
            ("run", "--bogus", "--", "true"),
            "ci-track: error: unrecognized arguments: --bogus (see ci-track run --help)",
        ),
        (
            ("jenkins", "trigger", "--url", "u", "--job", "j", "--bogus"),
            "ci-track: error: unrecognized arguments: --bogus (see ci-track jenkins trigger --help)",
        ),
        (
            ("compare", "--format", "xml"),
            "ci-track: error: argument --format: invalid choice: 'xml' (choose from 'table', 'markdown', 'json') "
            "(see ci-track compare --help)",
        ),
        (
            ("sync", "--tracking-uri"),
            "ci-track: error: argument --tracking-uri: expected one argument (see ci-track sync --help)",
        ),
    ],
)
def test_usage_errors_carry_the_prefix_once_and_point_at_the_right_help(
    args: tuple[str, ...], line: str, tmp_path: Path
) -> None:
    result = ci_track(*args, env=base_env(MLFLOW_TRACKING_URI="http://127.0.0.1:9"), cwd=tmp_path)
    assert assert_clean_failure(result, 2) == line
    assert result.stderr.count("ci-track:") == 1, result.stderr


# ---- the README's "Commands" synopsis matches the parsers ----------------------------------------


def _subcommand_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every leaf parser by its command line: "run", "compare", ..., "jenkins trigger"."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, words: tuple[str, ...]) -> None:
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not actions:
            found[" ".join(words)] = parser
            return
        for name, child in actions[0].choices.items():
            walk(child, (*words, name))

    walk(build_parser(), ())
    return found


def _synopsis() -> dict[str, str]:
    """The README's Commands code block: the text of each verb's lines (continuations included)."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Commands\n", 1)[1]
    block = section.split("```", 2)[1]
    verbs: dict[str, str] = {}
    current = None
    for line in block.splitlines()[1:]:
        match = re.match(r"ci-track (jenkins trigger|\w+)\b", line)
        if match:
            current = match.group(1)
            verbs[current] = verbs.get(current, "") + " " + line
        elif current is not None and line.strip():
            verbs[current] += " " + line
    return verbs


def test_every_subcommand_is_in_the_readme_synopsis() -> None:
    assert sorted(_synopsis()) == sorted(_subcommand_parsers())


@pytest.mark.parametrize("verb", sorted(_subcommand_parsers()))
def test_every_long_option_of_every_subcommand_is_in_the_readme_synopsis(verb: str) -> None:
    parser = _subcommand_parsers()[verb]
    options = {
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }
    text = _synopsis()[verb]
    listed = set(re.findall(r"--[a-z][a-z-]*", text))
    missing = sorted(options - listed)
    assert missing == [], f"README's synopsis of `ci-track {verb}` lacks {missing}"
    unknown = sorted(listed - options)
    assert unknown == [], f"README's synopsis of `ci-track {verb}` lists options the parser does not have: {unknown}"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices)


@pytest.mark.parametrize("verb", ["run", "compare", "promote", "rollback", "comment", "sync", "jenkins"])
def test_a_verb_built_alone_parses_and_helps_exactly_as_in_the_whole_parser(verb: str) -> None:
    whole, alone = _subparsers(build_parser())[verb], _subparsers(build_parser(verb))
    assert list(alone) == [verb]
    assert alone[verb].format_help() == whole.format_help()
    assert [a.option_strings for a in alone[verb]._actions] == [a.option_strings for a in whole._actions]
