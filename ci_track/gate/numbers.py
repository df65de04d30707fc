"""Numbers in words for the reasons and the reports (pure): values, deltas and percentages, with as many
digits as it takes to show that a value breaks its limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ci_track.gate.results import MetricResult

SLACK = 1e-9  # relative slack at a tolerance limit


def format_value(value: float | None) -> str:
    """0.742, 1.23457e+06, NaN, inf, -inf; "—" when absent."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6g}"


def format_delta(value: float | None) -> str:
    """+0.05912, -1.2e-05 (four significant digits); "0" when unchanged, "—" when undefined."""
    return _signed(value, ".4g")


def format_percent(value: float | None) -> str:
    """+7.9%, -0.042% (two significant digits below a tenth of a percent); "0%", "—"."""
    small = value is not None and abs(value) < 0.1
    return _signed(value, ".2g" if small else ".1f", suffix="%")


def _signed(value: float | None, spec: str, *, suffix: str = "") -> str:
    """A change with its sign: none is a bare 0, an undefined one a dash."""
    if value is None:
        return "—"
    if value == 0:
        return "0" + suffix
    return f"{value:+{spec}}{suffix}"


_DEFAULT_DIGITS = 6  # format_value's significant digits


_MAX_DIGITS = 17  # enough for any two different doubles to print differently


def format_values_apart(
    first: float | None, second: float | None, *, enough: Callable[[float, float], bool] | None = None
) -> tuple[str, str]:
    """Both values as format_value shows them, with as many more significant digits as it takes for
    the shown numbers to satisfy `enough(shown_first, shown_second)`; by default, to differ when the
    values do (0.5 -> 0.5000001, not 0.5 -> 0.5). A failure must show the digits that decided it."""
    if not (finite(first) and finite(second)) or first == second:
        return format_value(first), format_value(second)
    assert first is not None and second is not None
    for digits in range(_DEFAULT_DIGITS, _MAX_DIGITS + 1):
        shown = f"{first:.{digits}g}", f"{second:.{digits}g}"
        if enough(float(shown[0]), float(shown[1])) if enough else shown[0] != shown[1]:
            return shown
    return repr(first), repr(second)


def format_delta_beyond(delta: float, limit: float) -> str:
    """format_delta, with the digits it takes for the shown change to exceed `limit` visibly."""
    return _beyond(format_delta(delta), delta, limit, start=4, suffix="")


def format_percent_beyond(pct: float, limit: float) -> str:
    """format_percent, with the digits it takes for the shown percentage to exceed `limit` visibly."""
    return _beyond(format_percent(pct), pct, limit, start=2, suffix="%")


def _beyond(text: str, value: float, limit: float, *, start: int, suffix: str) -> str:
    # The default rounding can land on the limit itself (+2.002% shown as +2.0%, allowed +2%).
    digits = start
    while not clearly_above(abs(float(text.removesuffix(suffix))), limit) and digits < _MAX_DIGITS:
        digits += 1
        text = f"{value:+.{digits}g}{suffix}"
    return text


def clearly_above(shown: float, limit: float) -> bool:
    """Above the limit by more than float noise (0.51 - 0.5 is 0.010000000000000009, not above 0.01)."""
    return shown > limit and not math.isclose(shown, limit, rel_tol=SLACK)


def result_cells(result: MetricResult) -> tuple[str, str, str, str]:
    """champion, candidate, delta and delta % as the report tables show them, matching the reason."""
    if result.shown is not None:
        return result.shown
    champion, candidate = format_values_apart(result.champion, result.candidate)
    return champion, candidate, format_delta(result.delta), format_percent(result.delta_pct)


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def change_words(delta: float | None, pct: float | None, *, prefer: str = "both") -> str:
    if delta is None:
        return "change undefined"
    if pct is None or prefer == "delta":
        return format_delta(delta)
    if prefer == "percent":
        return format_percent(pct)
    return f"{format_delta(delta)}, {format_percent(pct)}"


def short_change_words(delta: float | None, pct: float | None, *, prefer: str = "percent") -> str:
    if pct is not None and prefer == "percent":
        return format_percent(pct)
    return format_delta(delta)
