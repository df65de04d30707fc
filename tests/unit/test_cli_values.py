"""KEY=VALUE arguments (`run --tag`, `run -P`, `jenkins trigger --param`) are read one way."""

from __future__ import annotations

import pytest

from ci_track.cli_values import parse_key_values, split_key_value
from ci_track.errors import UsageError


def test_the_key_is_stripped_and_the_value_kept_as_given() -> None:
    assert split_key_value(" team = ml=ops ") == ("team", " ml=ops ")
    assert split_key_value("empty=") == ("empty", "")


@pytest.mark.parametrize("text", ["novalue", "=v", "  =v", "", "="])
def test_text_without_a_key_is_not_a_key_value(text: str) -> None:
    assert split_key_value(text) is None


def test_a_later_key_wins() -> None:
    assert parse_key_values(["a=1", "b=2", "a=3"], what="--tag") == {"a": "3", "b": "2"}


def test_a_bad_item_is_a_usage_error_naming_the_flag() -> None:
    with pytest.raises(UsageError) as error:
        parse_key_values(["a=1", "oops"], what="--param")
    assert str(error.value) == "--param expects KEY=VALUE, got 'oops'"
