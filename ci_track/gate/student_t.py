# ruff: noqa: RUF002  (σ, ν, Φ in docstrings are the mathematics, not look-alike letters)
"""Student's t for the noise-aware gate: the z that "k sigma" needs with an estimated σ (pure, stdlib only).

"k sigma" is read as the one-sided tail probability p = 1 - Φ(k) it has for a known σ (3σ:
p = 0.00135). σ is only estimated, from ν degrees of freedom, so the threshold is the Student-t
quantile t = t_ν(1 - p) (3σ at ν = 10: t = 3.96); with ν → ∞ t = k. That keeps the false-block
rate at the level k promises when σ comes from a handful of values.
"""

from __future__ import annotations

import functools
import math
import statistics


@functools.lru_cache(maxsize=1024)
def sigma_threshold(k: float, dof: float | None) -> float:
    """The z a change needs for "k sigma" when σ is estimated from `dof` degrees of freedom.

    p = 1 - Φ(k), the one-sided tail of k for a known σ; the answer is t_dof(1 - p), the Student-t
    quantile (k itself for dof None or infinite). E.g. k = 1.96 at 10 dof: 2.228.
    """
    if k <= 0 or not math.isfinite(k):
        raise ValueError(f"k must be a finite number greater than 0, got {k!r}")
    if dof is None or math.isinf(dof):
        return k
    if dof <= 0:
        raise ValueError(f"degrees of freedom must be greater than 0, got {dof!r}")
    tail = statistics.NormalDist().cdf(-k)
    return _student_t_isf(tail, dof)


def student_t_sf(t: float, dof: float) -> float:
    """P(T > t) for Student's t with `dof` degrees of freedom (any real dof > 0).

    P(T > t) = I_x(ν/2, 1/2) / 2 with x = ν / (ν + t²) for t ≥ 0 (I: the regularized incomplete
    beta function), and 1 - P(T > -t) for t < 0.
    """
    if t < 0:
        return 1.0 - student_t_sf(-t, dof)
    return 0.5 * _betainc(dof / 2.0, 0.5, dof / (dof + t * t))


def _student_t_isf(tail: float, dof: float) -> float:
    """t with P(T > t) = tail (0 < tail < 1/2), by bisection (the survival function decreases in t)."""
    low, high = 0.0, 1.0
    while student_t_sf(high, dof) > tail:
        low, high = high, high * 2.0
        if high > 1e300:
            return math.inf
    for _ in range(200):
        middle = (low + high) / 2.0
        if student_t_sf(middle, dof) > tail:
            low = middle
        else:
            high = middle
        if high - low <= 1e-12 * high:
            break
    return (low + high) / 2.0


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) (continued fraction, Numerical Recipes §6.4)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300

    def guard(value: float) -> float:
        return tiny if abs(value) < tiny else value

    c, d = 1.0, 1.0 / guard(1.0 - (a + b) * x / (a + 1.0))
    result = d
    for m in range(1, 500):
        even = m * (b - m) * x / ((a + 2 * m - 1.0) * (a + 2 * m))
        d = 1.0 / guard(1.0 + even * d)
        c = guard(1.0 + even / c)
        result *= d * c
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1.0))
        d = 1.0 / guard(1.0 + odd * d)
        c = guard(1.0 + odd / c)
        step = d * c
        result *= step
        if abs(step - 1.0) < 1e-15:
            break
    return result
