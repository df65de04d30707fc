"""Unicode sparklines for the console table and the Jenkins log (pure): `▁▂▃▄▅▆▇█`, one character a value.

A metric's trend (the base branch's last runs, the candidate last) fits in a table column this way;
a value that is not finite is a space. All values equal give a flat middle line, not a wall of `█`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

BARS = "▁▂▃▄▅▆▇█"
MAX_WIDTH = 20


def sparkline(values: Sequence[float], *, width: int = MAX_WIDTH) -> str:
    """One bar per value (the last `width` of them), scaled between their minimum and maximum."""
    shown = list(values)[-width:] if width > 0 else []
    finite = [v for v in shown if math.isfinite(v)]
    if not finite:
        return " " * len(shown)
    low, high = min(finite), max(finite)
    if high == low:
        return "".join(BARS[len(BARS) // 2 - 1] if math.isfinite(v) else " " for v in shown)
    top = len(BARS) - 1
    return "".join(BARS[round((v - low) / (high - low) * top)] if math.isfinite(v) else " " for v in shown)
