"""The noise core (ci_track/gate/ noise, tolerance, student_t, repeats) on known inputs (no timings)."""

from __future__ import annotations

import math
import statistics

import pytest

from ci_track.gate import noise, repeats, student_t, tolerance
from ci_track.gate.noise import NO_ESTIMATE, NoiseEstimate
from ci_track.gate.tolerance import NoiseSpecError, Tolerance

NORMAL = statistics.NormalDist()

# ---------------------------------------------------------------- tolerance specs


@pytest.mark.parametrize(
    ("text", "k"),
    [("3sigma", 3.0), ("3σ", 3.0), ("2.5 sigma", 2.5), ("3 SIGMA", 3.0), (" 1.5σ ", 1.5), ("2e0sigma", 2.0)],
)
def test_sigma_spellings_give_k(text: str, k: float) -> None:
    assert tolerance.parse_tolerance(text) == Tolerance(sigma=k)


def test_percent_number_and_none_keep_their_meaning() -> None:
    assert tolerance.parse_tolerance("2%") == Tolerance(relative=2.0)
    assert tolerance.parse_tolerance(0.01) == Tolerance(absolute=0.01)
    assert tolerance.parse_tolerance(0) == Tolerance(absolute=0.0)
    assert tolerance.parse_tolerance(None) == Tolerance()


def test_mapping_combines_sigma_with_fixed_parts() -> None:
    assert tolerance.parse_tolerance({"sigma": 3, "relative": "2%"}) == Tolerance(sigma=3.0, relative=2.0)
    assert tolerance.parse_tolerance({"sigma": "2.5σ", "absolute": 0.01}) == Tolerance(sigma=2.5, absolute=0.01)
    assert tolerance.parse_tolerance({"relative": 2}) == Tolerance(relative=2.0)  # relative: 2 is 2%


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("3sigmas", "'3sigmas'"),
        ("3 sigmaa", "'3 sigmaa'"),
        ("-3sigma", "'-3sigma'"),
        ("0sigma", "'0sigma'"),
        ("nan sigma", "'nan sigma'"),
        ("sigma", "'sigma'"),
        ("-2%", "'-2%'"),
        (-0.5, "-0.5"),
        (math.nan, "nan"),
        (math.inf, "inf"),
        (True, "True"),
        ({"sigma": -1}, "-1"),
        ({"sigma": "2%"}, "'2%'"),
        ({"sigmas": 3}, "'sigmas'"),
        ({}, "{}"),
        ({"sigma": None}, "None"),
    ],
)
def test_bad_specs_are_one_line_value_errors_naming_the_value(value: object, named: str) -> None:
    with pytest.raises(NoiseSpecError) as caught:
        tolerance.parse_tolerance(value, "metrics.rmse.max_regression")
    message = str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert "\n" not in message
    assert message.startswith("metrics.rmse.max_regression")
    assert named in message


def test_a_misspelt_sigma_gets_a_hint() -> None:
    with pytest.raises(NoiseSpecError, match=r"did you mean '3sigma'\?"):
        tolerance.parse_tolerance("3sigmas")


def test_fixed_allowance_is_the_larger_of_absolute_and_relative() -> None:
    both = Tolerance(absolute=0.05, relative=2.0)
    assert both.fixed_allowance(10.0) == pytest.approx(0.2)  # 2% of 10 beats 0.05
    assert both.fixed_allowance(1.0) == pytest.approx(0.05)  # 0.05 beats 2% of 1
    assert Tolerance(relative=2.0).fixed_allowance(-10.0) == pytest.approx(0.2)  # of |champion|
    assert Tolerance(relative=2.0).fixed_allowance(0.0) == 0.0  # a percentage of 0 allows nothing
    assert Tolerance(sigma=3.0).fixed_allowance(10.0) is None


@pytest.mark.parametrize(
    ("value", "maximum", "policy"),
    [
        (1, None, tolerance.RepeatPolicy(runs=1)),
        ("3", None, tolerance.RepeatPolicy(runs=3)),
        ("auto", 4, tolerance.RepeatPolicy(maximum=4)),
    ],
)
def test_repeat_settings(value: object, maximum: object, policy: tolerance.RepeatPolicy) -> None:
    assert tolerance.parse_repeat(value, maximum) == policy


@pytest.mark.parametrize(
    ("value", "maximum", "fragment"),
    [
        (0, None, "0"),
        (-2, None, "-2"),
        ("auto", None, "needs a maximum"),
        ("auto", 0, "0"),
        (2.5, None, "2.5"),
        (3, 4, "only to 'auto'"),
    ],
)
def test_bad_repeat_settings(value: object, maximum: object, fragment: str) -> None:
    with pytest.raises(NoiseSpecError, match=fragment):
        tolerance.parse_repeat(value, maximum)


# ---------------------------------------------------------------- summaries and noise estimates


def test_summary_of_a_textbook_sample() -> None:
    summary = noise.summarize([2, 4, 4, 4, 5, 5, 7, 9])
    assert summary.n == 8
    assert summary.mean == 5.0
    assert summary.sd == pytest.approx(math.sqrt(32 / 7))  # Σ(x - 5)² = 32, n - 1 = 7


def test_one_value_has_no_spread_and_no_values_or_nan_are_refused() -> None:
    assert noise.summarize([0.7]) == noise.Summary(n=1, mean=0.7, sd=None)
    with pytest.raises(ValueError):
        noise.summarize([])
    with pytest.raises(ValueError):
        noise.summarize([0.1, math.nan])


def test_pooled_variance_of_repeats() -> None:
    # groups: [1, 3] (Σ sq 2, 1 dof), [2, 4, 6] (Σ sq 8, 2 dof), [10] (no spread): s² = 10 / 3
    estimate = noise.pooled_noise([[1, 3], [2, 4, 6], [10]])
    assert estimate.source == "repeats"
    assert estimate.sigma == pytest.approx(math.sqrt(10 / 3))
    assert estimate.dof == 3
    assert estimate.n == 5


def test_fewer_than_two_values_is_no_estimate_not_an_error() -> None:
    assert noise.pooled_noise([[1.0], [2.0]]) == NO_ESTIMATE
    assert noise.history_noise([0.5]) == NO_ESTIMATE
    assert noise.estimate_noise([[1.0]], [0.5]) == NO_ESTIMATE
    assert noise.estimate_noise() == NO_ESTIMATE
    assert "fixed tolerance alone" in NO_ESTIMATE.describe()


def test_history_mssd_by_hand() -> None:
    # differences 1, -1, 1, -1: Σ d² = 4 over 2·4 = 8: σ² = 0.5
    estimate = noise.history_noise([0, 1, 0, 1, 0])
    assert estimate.source == "history"
    assert estimate.sigma == pytest.approx(math.sqrt(0.5))
    assert estimate.dof == pytest.approx(4 * 2 / 3)


def test_history_mad_by_hand() -> None:
    # |differences| 1, 1, 1, 3: median 1, σ = 1.4826 / √2
    estimate = noise.history_noise([0, 1, 0, 1, 4], "mad")
    assert estimate.sigma == pytest.approx(1.4826 / math.sqrt(2))
    assert estimate.dof == pytest.approx(0.37 * 4)


def test_a_shift_in_the_history_barely_moves_the_estimate() -> None:
    # alternating ±0.5 noise (σ² = 0.5 by MSSD), then a merged improvement of 10 halfway
    noisy = [0.5 * (-1) ** i for i in range(20)]
    shifted = [v + (10.0 if i < 10 else 0.0) for i, v in enumerate(noisy)]
    plain = noise.history_noise(noisy).sigma
    with_shift = noise.history_noise(shifted).sigma
    assert plain is not None and with_shift is not None
    # the step turns one difference of ±1 into 0.5 - 9.5 = -9: σ² = (18·1 + 81) / 38; the sd is ~5
    assert with_shift == pytest.approx(math.sqrt((18 * 1 + 9**2) / 38))
    assert with_shift < 2.0 < 5.0 < noise.summarize(shifted).sd  # type: ignore[operator]
    assert noise.history_noise(shifted, "mad").sigma == pytest.approx(1.4826 / math.sqrt(2))  # MAD ignores it


def test_one_heavy_tailed_outlier_widens_mssd_but_not_mad() -> None:
    history = [1.0, 1.1, 1.0, 1.1, 1.0, 1.1, 5.0, 1.1, 1.0, 1.1, 1.0]
    mssd = noise.history_noise(history).sigma
    mad = noise.history_noise(history, "mad").sigma
    assert mad == pytest.approx(1.4826 * 0.1 / math.sqrt(2))  # the core of the noise only
    # Σ d² = 8·0.01 + 3.9² + 3.9² = 30.5 over 20: the tail stays in σ, as the false-block rate needs
    assert mssd == pytest.approx(math.sqrt((8 * 0.01 + 2 * 3.9**2) / 20))


def test_estimate_takes_the_source_with_more_degrees_of_freedom() -> None:
    history = [float(i % 2) for i in range(16)]  # 15 differences: ν = 10
    rich = [[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [5.0, 6.0, 7.0, 8.0, 9.0, 10.0]]  # ν = 10: repeats win the tie
    thin = [[0.0, 1.0, 2.0], [5.0, 6.0, 7.0]]  # ν = 4
    assert noise.estimate_noise(rich, history).source == "repeats"
    assert noise.estimate_noise(thin, history).source == "history"
    assert noise.estimate_noise(thin, [1.0]) == noise.pooled_noise(thin)  # no history estimate: the repeats
    assert noise.estimate_noise([[1.0]], history) == noise.history_noise(history)


# ---------------------------------------------------------------- standard error and threshold


def test_standard_error_of_a_difference_of_means() -> None:
    assert noise.standard_error(2.0, 1, 1) == pytest.approx(2.0 * math.sqrt(2))
    assert noise.standard_error(2.0, 4, 4) == pytest.approx(math.sqrt(2))
    assert noise.standard_error(3.0, 9, math.inf) == pytest.approx(1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        noise.standard_error(1.0, 0, 1)


@pytest.mark.parametrize(
    ("k", "dof", "t"),
    [
        (NORMAL.inv_cdf(0.975), 10, 2.228139),  # t table: 97.5% at 10 dof
        (NORMAL.inv_cdf(0.995), 5, 4.032143),  # 99.5% at 5 dof
        (NORMAL.inv_cdf(0.95), 1, 6.313752),  # 95% at 1 dof
        (3.0, None, 3.0),  # σ known
        (3.0, math.inf, 3.0),
    ],
)
def test_sigma_threshold_is_the_student_t_quantile_of_the_same_tail(k: float, dof: float | None, t: float) -> None:
    assert student_t.sigma_threshold(k, dof) == pytest.approx(t, abs=2e-6)


def test_student_t_survival_function() -> None:
    assert student_t.student_t_sf(0.0, 3) == pytest.approx(0.5)
    assert student_t.student_t_sf(1.0, 1) == pytest.approx(0.25)  # Cauchy: 1/2 - atan(1)/π
    assert student_t.student_t_sf(-1.0, 1) == pytest.approx(0.75)
    assert student_t.student_t_sf(2.0, 2) == pytest.approx(0.5 - 1 / math.sqrt(6))  # closed form at ν = 2


# ---------------------------------------------------------------- decisions


def known(sigma: float) -> NoiseEstimate:
    """A noise estimate with infinite degrees of freedom: the threshold is k itself."""
    return NoiseEstimate(sigma=sigma, source="repeats", n=100, dof=math.inf)


def test_sigma_only_passes_within_k_standard_errors_and_fails_beyond() -> None:
    # σ 1, one run each side: SE √2; 3σ allows 3√2 = 4.243
    three = Tolerance(sigma=3.0)
    inside = noise.decide([14.2], [10.0], "minimize", three, known(1.0))
    assert inside.verdict == "pass"
    assert inside.se == pytest.approx(math.sqrt(2))
    assert inside.z == pytest.approx(4.2 / math.sqrt(2))
    assert inside.allowance == pytest.approx(3 * math.sqrt(2))
    assert inside.allowance_from == "noise"
    beyond = noise.decide([14.3], [10.0], "minimize", three, known(1.0))
    assert beyond.verdict == "fail"


def test_direction_maximize_counts_a_drop_as_worse() -> None:
    decision = noise.decide([0.90], [0.95], "maximize", Tolerance(absolute=0.01), known(0.001))
    assert decision.change == pytest.approx(0.05)
    assert decision.verdict == "fail"
    assert noise.decide([0.99], [0.95], "maximize", Tolerance(), known(0.001)).verdict == "pass"


def test_the_larger_allowance_wins() -> None:
    both = Tolerance(sigma=2.0, relative=10.0)  # F = 10% of 10 = 1
    noisy = noise.decide([11.5], [10.0], "minimize", both, known(1.0))  # 2·√2 = 2.83 > F
    assert (noisy.allowance_from, noisy.verdict) == ("noise", "pass")
    quiet = noise.decide([10.9], [10.0], "minimize", both, known(0.01))  # 2·0.0141 < F = 1
    assert (quiet.allowance_from, quiet.verdict) == ("fixed", "pass")
    assert quiet.allowance == pytest.approx(1.0)
    assert noise.decide([11.1], [10.0], "minimize", both, known(0.01)).verdict == "fail"


def test_repeats_shrink_the_standard_error() -> None:
    # means 10.5 vs 10.0, σ 0.5: one run each SE 0.707 (pass at 2σ), four each SE 0.354 (0.5 > 0.707: fail)
    two = Tolerance(sigma=2.0)
    assert noise.decide([10.5], [10.0], "minimize", two, known(0.5)).verdict == "pass"
    many = noise.decide([10.4, 10.6, 10.5, 10.5], [10.0] * 4, "minimize", two, known(0.5))
    assert many.se == pytest.approx(0.5 * math.sqrt(0.5))
    assert many.candidate.mean == pytest.approx(10.5)
    assert many.verdict == "pass"  # 0.5 < 2·0.354 = 0.707
    assert noise.decide([10.8] * 4, [10.0] * 4, "minimize", two, known(0.5)).verdict == "fail"


def test_estimated_sigma_raises_the_threshold() -> None:
    estimate = NoiseEstimate(sigma=1.0, source="history", n=16, dof=10.0)
    decision = noise.decide([12.0], [10.0], "minimize", Tolerance(sigma=1.959964), estimate)
    assert decision.threshold == pytest.approx(2.228139, abs=1e-5)
    assert decision.allowance == pytest.approx(2.228139 * math.sqrt(2), abs=1e-5)


def test_no_noise_estimate_applies_the_fixed_part_alone_and_says_so() -> None:
    with_fixed = noise.decide([10.5], [10.0], "minimize", Tolerance(sigma=3.0, absolute=1.0), NO_ESTIMATE)
    assert (with_fixed.verdict, with_fixed.allowance_from, with_fixed.confident) == ("pass", "fixed", False)
    assert "3σ part is not applied" in with_fixed.reason
    alone = noise.decide([10.5], [10.0], "minimize", Tolerance(sigma=3.0), NO_ESTIMATE)
    assert (alone.verdict, alone.allowance) == ("fail", 0.0)  # fails closed: nothing else allows it


def test_zero_noise_is_confident_and_exact() -> None:
    zero = NoiseEstimate(sigma=0.0, source="repeats", n=4, dof=2.0)
    decision = noise.decide([1.0, 1.0], [1.0, 1.0], "minimize", Tolerance(sigma=3.0), zero)
    assert (decision.verdict, decision.confident, decision.z) == ("pass", True, None)
    assert noise.decide([1.01, 1.01], [1.0, 1.0], "minimize", Tolerance(sigma=3.0), zero).verdict == "fail"


def test_confidence_band_around_the_allowance() -> None:
    # σ 1, n 1 each: SE √2 = 1.414, allowance 3√2 = 4.243; the band is ±1 SE around it
    three = Tolerance(sigma=3.0)
    assert noise.decide([10.0], [10.0], "minimize", three, known(1.0)).confident  # 4.2 SE away
    near = noise.decide([13.5], [10.0], "minimize", three, known(1.0))  # 0.74 below the limit
    assert (near.verdict, near.confident) == ("pass", False)
    assert "not confident" in near.reason
    far = noise.decide([16.0], [10.0], "minimize", three, known(1.0))  # 1.76 above
    assert (far.verdict, far.confident) == ("fail", True)


def test_reason_is_one_line_with_sigma_z_and_the_allowance() -> None:
    decision = noise.decide([16.0], [10.0], "minimize", Tolerance(sigma=3.0, relative=2.0), known(1.0))
    assert "\n" not in decision.reason
    assert "worse by 6 (mean of 1 vs 1 run, z 4.24)" in decision.reason
    assert "max(fixed 2% = 0.2, 3σ → 3 SE = 4.243)" in decision.reason
    assert decision.reason.endswith("fail, confident")


def test_values_must_be_finite() -> None:
    with pytest.raises(ValueError):
        noise.decide([math.nan], [1.0], "minimize", Tolerance(), known(1.0))


# ---------------------------------------------------------------- adaptive repeats


def test_next_repeat_trains_again_only_while_ambiguous() -> None:
    three = Tolerance(sigma=3.0)
    clear = noise.decide([10.0], [10.0], "minimize", three, known(1.0))
    ambiguous = noise.decide([13.5], [10.0], "minimize", three, known(1.0))
    assert not repeats.next_repeat([clear], 1, 4).again
    step = repeats.next_repeat([clear, ambiguous], 1, 4)
    assert step.again and "ambiguous" in step.reason
    at_max = repeats.next_repeat([ambiguous], 4, 4)
    assert not at_max.again and "maximum of 4" in at_max.reason and "1 decision still not confident" in at_max.reason


def test_next_repeat_without_noise_estimate_trains_to_measure_it() -> None:
    blind = noise.decide([10.5], [10.0], "minimize", Tolerance(sigma=3.0), NO_ESTIMATE)
    assert repeats.next_repeat([blind], 1, 3).again
    assert not repeats.next_repeat([blind], 1, 1).again  # a maximum of 1 is one run
    assert not repeats.next_repeat([], 1, 3).again  # nothing to decide


def test_next_repeat_checks_its_arguments() -> None:
    with pytest.raises(ValueError):
        repeats.next_repeat([], 0, 3)


# ---------------------------------------------------------------- drift and required improvement


def test_drift_is_measured_against_the_best_recent_champion_by_mean() -> None:
    champions = [[10.0, 10.2], [9.0, 9.2], [9.5]]  # best (minimize): mean 9.1
    assert repeats.best_by_mean(champions, "minimize") == 1
    assert repeats.best_by_mean(champions, "maximize") == 0
    drift = repeats.check_drift([9.8], champions, "minimize", Tolerance(relative=5.0), known(0.01))
    assert drift is not None
    assert drift.test == "drift"
    assert drift.change == pytest.approx(0.7)
    assert drift.verdict == "fail"  # 0.7 > 5% of 9.1 = 0.455, although within 5% of the newest champion
    assert repeats.check_drift([9.8], [], "minimize", Tolerance(relative=5.0), known(0.01)) is None


def test_require_improvement_like_mlflow_min_change() -> None:
    one_percent = Tolerance(relative=1.0)  # MLflow min_relative_change=0.01
    assert repeats.check_improvement([0.97], [0.95], "maximize", one_percent, known(0.0001)).verdict == "pass"
    assert repeats.check_improvement([0.955], [0.95], "maximize", one_percent, known(0.0001)).verdict == "fail"
    assert repeats.check_improvement([0.95], [0.95], "maximize", Tolerance(), known(0.0001)).verdict == "fail"
    # exactly the minimum counts (MLflow: candidate >= baseline + min_absolute_change)
    assert repeats.check_improvement([0.75], [0.5], "maximize", Tolerance(absolute=0.25), known(0.0)).verdict == "pass"
    # with a sigma part the gain must also be significant: 0.02 < 3·0.01·√2
    noisy = repeats.check_improvement([0.97], [0.95], "maximize", Tolerance(sigma=3.0, relative=1.0), known(0.01))
    assert (noisy.verdict, noisy.allowance_from) == ("fail", "noise")
    assert "better by 0.02" in noisy.reason and "needed" in noisy.reason
