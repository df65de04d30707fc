"""`KEY=VALUE` arguments of the command line (`run --tag`, `run -P`, `jenkins trigger --param`), read one way.

The key is stripped and must not be empty; the value is kept as given (it may be empty or hold `=`).
action/entry.py keeps a standard-library copy of `split_key_value` (it runs before ci_track is
installed); tests/unit/test_action_vocabulary.py checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Sequence

from ci_track.errors import UsageError


def split_key_value(text: str) -> tuple[str, str] | None:
    """(key, value) of `KEY=VALUE`, or None when `text` is not one."""
    key, separator, value = text.partition("=")
    if not separator or not key.strip():
        return None
    return key.strip(), value


def parse_key_values(items: Sequence[str], *, what: str) -> dict[str, str]:
    """{key: value} of repeated `what` arguments (a later key wins); a bad one is a UsageError naming `what`."""
    parsed: dict[str, str] = {}
    for item in items:
        pair = split_key_value(item)
        if pair is None:
            raise UsageError(f"{what} expects KEY=VALUE, got {item!r}")
        parsed[pair[0]] = pair[1]
    return parsed
