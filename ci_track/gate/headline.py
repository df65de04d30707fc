"""The verdict in one line of at most 140 characters (the commit status description), pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ci_track.report.text import cut, one_line
from ci_track.vocabulary import HEADLINE_LIMIT

if TYPE_CHECKING:
    from ci_track.gate.results import Comparison


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _fit(prefix: str, items: list[str], limit: int = HEADLINE_LIMIT) -> str:
    """`prefix` + as many items as fit in `limit` (joined by "; "), then "(+N more)"."""
    shown: list[str] = []
    for index, item in enumerate(items):
        rest = len(items) - index - 1
        trial = prefix + "; ".join([*shown, item]) + (f" (+{rest} more)" if rest else "")
        if len(trial) > limit:
            break
        shown.append(item)
    if not shown and items:  # even the first item is too long: cut it
        shown = items[:1]
    more = len(items) - len(shown)
    return _cut(prefix + "; ".join(shown) + (f" (+{more} more)" if more else ""), limit)


def _cut(text: str, limit: int) -> str:
    return cut(one_line(text), limit)


def headline(comparison: Comparison) -> str:
    """The verdict and why: the failures, else the warnings, as many as fit."""
    if comparison.accepted and comparison.verdict == "regression":
        return _fit("accepted by label: ", [m.short for m in comparison.failures])
    gated = comparison.gated
    warnings = comparison.warnings
    warn_items = [m.short for m in warnings]
    if comparison.verdict == "regression":
        prefix = "regression: " if comparison.champion is not None else "fail (no champion): "
        return _fit(prefix, [m.short for m in comparison.failures])
    if comparison.verdict == "no-champion":
        policy = comparison.no_champion_policy
        action = "passing" if policy == "pass" else "failing"
        text = f"no champion found, nothing to compare: {action} (no_champion: {policy})"
        if warnings:
            return _fit(text + "; ", warn_items)
        return _cut(text, HEADLINE_LIMIT)
    improved = sum(1 for m in gated if m.status == "improved")
    text = f"pass: {_plural(len(gated), 'metric')} checked"
    if improved:
        text += f", {improved} improved"
    if warnings:
        return _fit(f"{text}; {_plural(len(warnings), 'warning')}: ", warn_items)
    return _cut(text, HEADLINE_LIMIT)
