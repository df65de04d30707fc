"""The gate's decision: every per-metric rule, the params diff, the verdict, the exit code and the headline."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest

from ci_track.gate.comparison import compare
from ci_track.gate.config import Config, parse_config
from ci_track.gate.numbers import format_delta, format_percent, format_value
from ci_track.gate.results import Comparison, MetricResult, ParamChange
from ci_track.tracking.runs import Run
from ci_track.vocabulary import HEADLINE_LIMIT
from tests.report_scenarios import RULES  # the rules the report scenarios are judged under


def make_run(
    metrics: Mapping[str, float],
    *,
    run_id: str = "cand1234",
    params: Mapping[str, str] | None = None,
) -> Run:
    return Run(
        run_id=run_id,
        experiment_id="7",
        status="FINISHED",
        metrics=dict(metrics),
        params=dict(params or {}),
        tags={"mlflow.source.git.commit": "0123456789abcdef", "mlflow.source.git.branch": "feature"},
    )


def champion_run(metrics: Mapping[str, float], params: Mapping[str, str] | None = None) -> Run:
    return make_run(metrics, run_id="champ5678", params=params)


def judge(rules: str, candidate: Mapping[str, float], champion: Mapping[str, float] | None) -> Comparison:
    config = parse_config(rules)
    return compare(
        make_run(candidate),
        champion_run(champion) if champion is not None else None,
        config,
        champion_source="alias @champion of model wine (version 3)",
    )


def metric(comparison: Comparison, name: str) -> MetricResult:
    return next(m for m in comparison.metrics if m.name == name)


ONE = "metrics:\n  rmse: {goal: minimize, max_regression: '2%'}\n"
ABSOLUTE = "metrics:\n  r2: {goal: maximize, max_regression: 0.01}\n"
STRICT = "metrics:\n  loss: {goal: minimize}\n"


# ---------------------------------------------------------------- better / equal / within / worse


def test_better_value_is_improved_and_passes() -> None:
    comparison = judge(ONE, {"rmse": 0.70}, {"rmse": 0.742})
    rmse = metric(comparison, "rmse")
    assert (rmse.status, rmse.outcome) == ("improved", "ok")
    assert rmse.delta == pytest.approx(-0.042)
    assert rmse.delta_pct == pytest.approx(-0.042 / 0.742 * 100)
    assert rmse.reason == "rmse 0.742 -> 0.7 (-0.042, -5.7%)"
    assert comparison.verdict == "pass"
    assert comparison.exit_code() == 0


def test_maximize_goal_reverses_the_direction() -> None:
    assert metric(judge(ABSOLUTE, {"r2": 0.9}, {"r2": 0.85}), "r2").status == "improved"
    assert metric(judge(ABSOLUTE, {"r2": 0.8}, {"r2": 0.85}), "r2").status == "regressed"


def test_equal_value_is_unchanged() -> None:
    rmse = metric(judge(ONE, {"rmse": 0.742}, {"rmse": 0.742}), "rmse")
    assert (rmse.status, rmse.outcome, rmse.delta, rmse.delta_pct) == ("unchanged", "ok", 0.0, 0.0)
    assert rmse.reason == "rmse 0.742 -> 0.742 (unchanged)"


def test_worse_within_relative_tolerance_passes() -> None:
    comparison = judge(ONE, {"rmse": 0.75}, {"rmse": 0.742})  # +1.08% <= 2%
    rmse = metric(comparison, "rmse")
    assert (rmse.status, rmse.outcome) == ("within_tolerance", "ok")
    assert rmse.reason == "rmse 0.742 -> 0.75 (+1.1%), allowed +2%"
    assert comparison.verdict == "pass"


def test_worse_beyond_relative_tolerance_is_a_regression() -> None:
    comparison = judge(ONE, {"rmse": 0.801}, {"rmse": 0.742})
    rmse = metric(comparison, "rmse")
    assert (rmse.status, rmse.outcome) == ("regressed", "fail")
    assert rmse.reason == "rmse 0.742 -> 0.801 (+8.0%), allowed +2%"
    assert comparison.verdict == "regression"
    assert comparison.exit_code() == 1
    assert comparison.headline == "regression: rmse +8.0% (allowed +2%)"


def test_exactly_at_the_tolerance_limit_is_within_despite_float_noise() -> None:
    # 1.02 - 1.0 is 0.020000000000000018 in floating point: still exactly 2%.
    assert metric(judge(ONE, {"rmse": 1.02}, {"rmse": 1.0}), "rmse").status == "within_tolerance"
    assert metric(judge(ABSOLUTE, {"r2": 0.84}, {"r2": 0.85}), "r2").status == "within_tolerance"
    assert metric(judge(ONE, {"rmse": 1.0201}, {"rmse": 1.0}), "rmse").status == "regressed"


def test_absolute_tolerance_is_in_the_metrics_units() -> None:
    within = metric(judge(ABSOLUTE, {"r2": 0.845}, {"r2": 0.85}), "r2")
    assert (within.status, within.allowed) == ("within_tolerance", "-0.01")
    assert within.reason == "r2 0.85 -> 0.845 (-0.005), allowed -0.01"
    beyond = metric(judge(ABSOLUTE, {"r2": 0.83}, {"r2": 0.85}), "r2")
    assert beyond.status == "regressed"
    assert beyond.reason == "r2 0.85 -> 0.83 (-0.02), allowed -0.01"
    assert beyond.short == "r2 -0.02 (allowed -0.01)"


def test_no_tolerance_means_any_worsening_regresses() -> None:
    loss = metric(judge(STRICT, {"loss": 0.5001}, {"loss": 0.5}), "loss")
    assert (loss.status, loss.outcome, loss.allowed) == ("regressed", "fail", "none")
    assert loss.reason.endswith("no worsening allowed")


# ---------------------------------------------------------------- relative tolerance against zero


def test_relative_tolerance_with_zero_champion_any_worsening_regresses() -> None:
    rmse = metric(judge(ONE, {"rmse": 0.001}, {"rmse": 0.0}), "rmse")
    assert (rmse.status, rmse.outcome) == ("regressed", "fail")
    assert rmse.delta == pytest.approx(0.001)
    assert rmse.delta_pct is None  # undefined, not infinite
    assert rmse.reason == (
        "rmse 0 -> 0.001 (+0.001): the relative change from 0 is undefined, so any worsening exceeds the allowed +2%"
    )


def test_relative_tolerance_with_zero_champion_no_change_is_unchanged_and_better_is_improved() -> None:
    assert metric(judge(ONE, {"rmse": 0.0}, {"rmse": 0.0}), "rmse").status == "unchanged"
    maximize = "metrics:\n  gain: {goal: maximize, max_regression: '5%'}\n"
    gain = metric(judge(maximize, {"gain": 0.2}, {"gain": 0.0}), "gain")
    assert (gain.status, gain.delta_pct) == ("improved", None)
    assert metric(judge(maximize, {"gain": -0.2}, {"gain": 0.0}), "gain").status == "regressed"


# ---------------------------------------------------------------- hard bounds


def test_hard_floor_breached_fails_even_while_improving() -> None:
    comparison = judge(RULES, {"rmse": 0.7, "r2": 0.25, "mae": 0.5, "train_time_s": 1}, {"rmse": 0.7, "r2": 0.20})
    r2 = metric(comparison, "r2")
    assert (r2.status, r2.outcome) == ("out_of_bounds", "fail")
    assert r2.reason == "r2 0.25 is below the minimum 0.3, although better than the champion's 0.2: bounds are hard"
    assert r2.short == "r2 0.25 < min 0.3"
    assert comparison.verdict == "regression"


def test_hard_ceiling_breached_fails() -> None:
    rules = "metrics:\n  latency_ms: {goal: minimize, max: 100}\n"
    latency = metric(judge(rules, {"latency_ms": 120}, {"latency_ms": 130}), "latency_ms")
    assert (latency.status, latency.outcome) == ("out_of_bounds", "fail")
    assert latency.reason.startswith("latency_ms 120 is above the maximum 100")


def test_bounds_apply_without_a_champion_and_fail_the_gate() -> None:
    comparison = judge(RULES, {"rmse": 0.7, "r2": 0.1, "mae": 0.5, "train_time_s": 1}, None)
    assert metric(comparison, "r2").status == "out_of_bounds"
    assert comparison.verdict == "regression"
    assert comparison.exit_code() == 1
    assert comparison.headline == "fail (no champion): r2 0.1 < min 0.3"


def test_value_at_the_bound_is_inside() -> None:
    assert metric(judge(RULES, {"r2": 0.30}, {"r2": 0.30}), "r2").status == "unchanged"


# ---------------------------------------------------------------- missing, NaN


def test_missing_configured_metric_fails_by_default() -> None:
    comparison = judge(RULES, {"rmse": 0.7, "mae": 0.5, "train_time_s": 1}, {"rmse": 0.7, "r2": 0.8})
    r2 = metric(comparison, "r2")
    assert (r2.status, r2.outcome, r2.candidate) == ("missing", "fail", None)
    assert r2.reason == "r2 is missing from the candidate run (champion: 0.8); missing: fail"
    assert comparison.verdict == "regression"


def test_missing_warn_policy_warns_instead() -> None:
    comparison = judge(
        "missing: warn\n" + RULES, {"rmse": 0.7, "mae": 0.5, "train_time_s": 1}, {"rmse": 0.7, "mae": 0.5}
    )
    assert metric(comparison, "r2").outcome == "warn"
    assert comparison.verdict == "pass"
    assert len(comparison.warnings) == 1


def test_missing_metric_never_fails_harder_than_its_severity() -> None:
    comparison = judge(RULES, {"rmse": 0.7, "r2": 0.8}, {"rmse": 0.7, "r2": 0.8})
    assert (metric(comparison, "mae").status, metric(comparison, "mae").outcome) == ("missing", "warn")
    assert metric(comparison, "train_time_s").outcome == "info"
    assert comparison.verdict == "pass"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_or_infinite_candidate_fails_the_metric(value: float) -> None:
    comparison = judge(ONE, {"rmse": value}, {"rmse": 0.742})
    rmse = metric(comparison, "rmse")
    assert (rmse.status, rmse.outcome) == ("nan", "fail")
    assert rmse.delta is None and rmse.delta_pct is None
    assert rmse.reason == f"rmse is {format_value(value)} in the candidate run (set allow_nan: true to accept it)"
    assert comparison.verdict == "regression"


def test_nan_fails_even_without_a_champion() -> None:
    comparison = judge(ONE, {"rmse": math.nan}, None)
    assert comparison.verdict == "regression"
    assert comparison.headline == "fail (no champion): rmse NaN"


def test_allow_nan_accepts_nan_but_not_an_infinite_bound_breach() -> None:
    rules = "metrics:\n  loss: {goal: minimize, allow_nan: true, max: 10}\n"
    nan = metric(judge(rules, {"loss": math.nan}, {"loss": 1.0}), "loss")
    assert (nan.status, nan.outcome) == ("nan", "ok")
    assert nan.reason == "loss is NaN, accepted (allow_nan: true)"
    inf = metric(judge(rules, {"loss": math.inf}, {"loss": 1.0}), "loss")
    assert (inf.status, inf.outcome) == ("out_of_bounds", "fail")


def test_nan_champion_value_is_beaten_by_any_finite_value() -> None:
    rmse = metric(judge(ONE, {"rmse": 5.0}, {"rmse": math.nan}), "rmse")
    assert (rmse.status, rmse.outcome, rmse.delta) == ("improved", "ok", None)
    assert "champion's value was NaN" in rmse.reason


def test_worse_than_an_infinite_champion_value_is_beyond_any_tolerance() -> None:
    maximize = "metrics:\n  score: {goal: maximize, max_regression: 1000}\n"
    score = metric(judge(maximize, {"score": 5.0}, {"score": math.inf}), "score")
    assert (score.status, score.outcome) == ("regressed", "fail")
    assert metric(judge(ONE, {"rmse": 5.0}, {"rmse": math.inf}), "rmse").status == "improved"


# ---------------------------------------------------------------- severities


def test_warn_severity_regression_is_a_warning_not_a_failure() -> None:
    comparison = judge(
        RULES, {"rmse": 0.7, "r2": 0.8, "mae": 0.6, "train_time_s": 1}, {"rmse": 0.7, "r2": 0.8, "mae": 0.5}
    )
    mae = metric(comparison, "mae")
    assert (mae.status, mae.outcome, mae.severity) == ("regressed", "warn", "warn")
    assert comparison.verdict == "pass"
    assert comparison.exit_code() == 0
    assert [m.name for m in comparison.warnings] == ["mae"]
    assert comparison.headline == "pass: 4 metrics checked; 1 warning: mae +20.0% (none allowed)"


def test_info_severity_regression_is_only_reported() -> None:
    comparison = judge(
        RULES,
        {"rmse": 0.7, "r2": 0.8, "mae": 0.5, "train_time_s": 99},
        {"rmse": 0.7, "r2": 0.8, "mae": 0.5, "train_time_s": 10},
    )
    train = metric(comparison, "train_time_s")
    assert (train.status, train.outcome) == ("regressed", "info")
    assert comparison.warnings == ()
    assert comparison.verdict == "pass"


def test_warn_severity_nan_and_bound_breach_warn() -> None:
    rules = "metrics:\n  f1: {goal: maximize, min: 0.5, severity: warn}\n"
    assert metric(judge(rules, {"f1": math.nan}, {"f1": 0.6}), "f1").outcome == "warn"
    assert metric(judge(rules, {"f1": 0.4}, {"f1": 0.6}), "f1").outcome == "warn"
    assert judge(rules, {"f1": 0.4}, {"f1": 0.6}).verdict == "pass"


# ---------------------------------------------------------------- no champion


def test_no_champion_verdict_and_exit_code_follow_the_policy() -> None:
    comparison = judge(RULES, {"rmse": 0.7, "r2": 0.8, "mae": 0.5, "train_time_s": 1}, None)
    assert comparison.verdict == "no-champion"
    assert {m.status for m in comparison.gated} == {"new"}
    assert metric(comparison, "rmse").reason == "rmse 0.7 (no champion to compare with)"
    assert comparison.exit_code() == 0
    assert comparison.exit_code("fail") == 1
    assert comparison.passed
    assert comparison.headline == "no champion found, nothing to compare: passing (no_champion: pass)"
    strict = judge("no_champion: fail\n" + RULES.replace("no_champion: pass\n", ""), {"rmse": 0.7, "r2": 0.8}, None)
    assert strict.exit_code() == 1
    assert not strict.passed
    assert strict.headline.startswith("no champion found, nothing to compare: failing (no_champion: fail)")
    assert strict.params == ()


def test_no_gate_always_exits_zero() -> None:
    assert judge(ONE, {"rmse": 9.0}, {"rmse": 0.7}).exit_code(gate=False) == 0


def test_configured_metric_the_champion_lacks_is_a_visible_warning_never_a_silent_pass() -> None:
    comparison = judge(RULES, {"rmse": 0.7, "r2": 0.8, "mae": 0.5, "train_time_s": 1}, {"rmse": 0.7})
    r2 = metric(comparison, "r2")
    assert (r2.status, r2.outcome) == ("new", "warn")
    assert r2.reason.startswith("r2 0.8: the champion run has no r2, so it was not compared (only its bounds")
    assert r2 in comparison.warnings and "r2 no baseline" in comparison.headline
    assert metric(comparison, "train_time_s").outcome == "info"  # severity info stays info
    assert comparison.verdict == "pass"


def test_a_champion_without_any_gated_metric_is_unusable_and_the_gate_fails_closed() -> None:
    comparison = judge(RULES, {"rmse": 0.7, "r2": 0.8, "mae": 0.5}, {"eval_latency_ms": 12.0})
    assert comparison.verdict == "regression"
    failed = {m.name for m in comparison.failures}
    assert failed == {"rmse", "r2"}  # the metrics with a goal and severity fail
    assert "has none of the gated metrics (rmse, r2)" in metric(comparison, "rmse").reason
    assert "fails closed" in metric(comparison, "rmse").reason
    assert metric(comparison, "mae").outcome == "warn"


def test_a_bound_still_applies_when_the_champion_lacks_the_metric() -> None:
    comparison = judge(RULES, {"rmse": 0.7, "r2": 0.1}, {"rmse": 0.7})
    assert (metric(comparison, "r2").status, metric(comparison, "r2").outcome) == ("out_of_bounds", "fail")


# ---------------------------------------------------------------- unconfigured metrics


def test_new_and_removed_and_info_metrics_are_reported_never_gated() -> None:
    comparison = judge(
        ONE,
        {"rmse": 0.7, "epochs": 12, "lr": 0.01},
        {"rmse": 0.7, "epochs": 10, "dropped": 3.5},
    )
    assert [m.name for m in comparison.metrics] == ["rmse", "epochs", "lr", "dropped"]
    epochs, lr, dropped = metric(comparison, "epochs"), metric(comparison, "lr"), metric(comparison, "dropped")
    assert (epochs.status, epochs.outcome, epochs.delta, epochs.configured) == ("info", "info", 2, False)
    assert epochs.reason == "epochs 10 -> 12 (+2, +20.0%; not gated)"
    assert (lr.status, lr.champion) == ("new", None)
    assert lr.reason == "lr 0.01 (not in the champion run; not gated)"
    assert (dropped.status, dropped.candidate, dropped.champion) == ("removed", None, 3.5)
    assert dropped.reason == "dropped was 3.5 in the champion run and is absent from the candidate"
    assert comparison.verdict == "pass"
    assert [m.name for m in comparison.gated] == ["rmse"]
    assert [m.name for m in comparison.others] == ["epochs", "lr", "dropped"]


def test_a_configured_metric_missing_from_the_candidate_is_missing_not_removed() -> None:
    comparison = judge(ONE, {}, {"rmse": 0.7})
    assert [(m.name, m.status) for m in comparison.metrics] == [("rmse", "missing")]


def test_no_configured_metrics_reports_everything_and_passes() -> None:
    comparison = compare(make_run({"a": 1.0}), champion_run({"a": 2.0}), Config())
    assert [(m.name, m.status) for m in comparison.metrics] == [("a", "info")]
    assert comparison.verdict == "pass"


def test_metric_without_goal_checks_only_bounds() -> None:
    rules = "metrics:\n  size_mb: {max: 500}\n"
    size = metric(judge(rules, {"size_mb": 400}, {"size_mb": 100}), "size_mb")
    assert (size.status, size.outcome) == ("info", "ok")
    assert size.reason == "size_mb 100 -> 400 (+300, +300.0%); no goal set, only bounds are checked"
    assert metric(judge(rules, {"size_mb": 600}, {"size_mb": 100}), "size_mb").status == "out_of_bounds"


# ---------------------------------------------------------------- params


def test_params_diff_lists_changed_added_and_removed() -> None:
    comparison = compare(
        make_run({"rmse": 0.7}, params={"alpha": "0.7", "seed": "1", "l1": "0.1"}),
        champion_run({"rmse": 0.7}, params={"alpha": "0.5", "l1": "0.1", "solver": "saga"}),
        parse_config(ONE),
    )
    assert comparison.params == (
        ParamChange(name="alpha", change="changed", champion="0.5", candidate="0.7"),
        ParamChange(name="seed", change="added", champion=None, candidate="1"),
        ParamChange(name="solver", change="removed", champion="saga", candidate=None),
    )


# ---------------------------------------------------------------- headline and numbers


def test_headline_lists_failures_and_stays_within_140_characters() -> None:
    rules = "metrics:\n" + "".join(f"  metric_with_a_long_name_{i}: {{goal: minimize}}\n" for i in range(12))
    candidate = {f"metric_with_a_long_name_{i}": 2.0 for i in range(12)}
    champion = {f"metric_with_a_long_name_{i}": 1.0 for i in range(12)}
    headline = judge(rules, candidate, champion).headline
    assert len(headline) <= HEADLINE_LIMIT
    assert headline.startswith("regression: metric_with_a_long_name_0 +100.0% (none allowed); ")
    assert headline.endswith(" more)")


def test_headline_has_no_line_breaks_from_hostile_metric_names() -> None:
    rules = 'metrics:\n  "evil\\nname\\r\\u0007": {goal: minimize}\n'
    headline = judge(rules, {"evil\nname\r\x07": 2.0}, {"evil\nname\r\x07": 1.0}).headline
    assert "\n" not in headline and "\r" not in headline and "\x07" not in headline
    assert headline.startswith("regression: evil name  ")


def test_pass_headline_counts_improvements() -> None:
    comparison = judge(
        RULES, {"rmse": 0.6, "r2": 0.9, "mae": 0.5, "train_time_s": 1}, {"rmse": 0.7, "r2": 0.8, "mae": 0.5}
    )
    assert comparison.headline == "pass: 4 metrics checked, 2 improved"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.742, "0.742"),
        (1234567.0, "1.23457e+06"),
        (math.nan, "NaN"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (None, "—"),
    ],
)
def test_format_value(value: float | None, text: str) -> None:
    assert format_value(value) == text


def test_format_delta_and_percent_are_signed() -> None:
    assert (format_delta(0.059), format_delta(-0.02), format_delta(0.0), format_delta(None)) == (
        "+0.059",
        "-0.02",
        "0",
        "—",
    )
    assert (format_percent(7.95), format_percent(-1.5), format_percent(0.04), format_percent(0.0)) == (
        "+8.0%",
        "-1.5%",
        "+0.04%",
        "0%",
    )


# ---------------------------------------------------------------- a failure shows the digits that decide it


@pytest.mark.parametrize(
    ("rule", "candidate", "champion", "reason", "cells"),
    [
        # the default 6 digits / one decimal read as a pass: "0.5 -> 0.51001 (+2.0%), allowed +2%"
        (
            '{goal: minimize, max_regression: "2%"}',
            0.51001,
            0.5,
            "m 0.5 -> 0.51001 (+2.002%), allowed +2%",
            ("0.5", "0.51001", "+0.01001", "+2.002%"),
        ),
        # "1 -> 1 (+1e-05%)"
        (
            '{goal: minimize, max_regression: "0%"}',
            1.0000001,
            1.0,
            "m 1 -> 1.0000001 (+1e-05%), allowed +0%",
            ("1", "1.0000001", "+1e-07", "+1e-05%"),
        ),
        (
            "{goal: minimize}",
            1.0000001,
            1.0,
            "m 1 -> 1.0000001 (+1e-07, +1e-05%), no worsening allowed",
            ("1", "1.0000001", "+1e-07", "+1e-05%"),
        ),
        # absolute tolerance: the delta and the values ("0.5 -> 0.51" would read as exactly +0.01)
        (
            "{goal: minimize, max_regression: 0.01}",
            0.5100001,
            0.5,
            "m 0.5 -> 0.5100001 (+0.0100001), allowed +0.01",
            ("0.5", "0.5100001", "+0.0100001", "+2.0%"),
        ),
        # very small magnitudes
        (
            "{goal: minimize, max_regression: 1e-12}",
            1.0010002e-09,
            1e-09,
            "m 1e-09 -> 1.0010002e-09 (+1.0002e-12), allowed +1e-12",
            ("1e-09", "1.0010002e-09", "+1.0002e-12", "+0.1%"),
        ),
        # very large magnitudes ("1e+06 -> 1.01e+06" would read as exactly +1%)
        (
            '{goal: minimize, max_regression: "1%"}',
            1010000.5,
            1e6,
            "m 1000000 -> 1010000.5 (+1.0001%), allowed +1%",
            ("1000000", "1010000.5", "+1e+04", "+1.0001%"),
        ),
        # negative values, maximized: worse is more negative
        (
            '{goal: maximize, max_regression: "2%"}',
            -0.51001,
            -0.5,
            "m -0.5 -> -0.51001 (-2.002%), allowed -2%",
            ("-0.5", "-0.51001", "-0.01001", "-2.002%"),
        ),
        (
            "{goal: maximize, max_regression: 0.01}",
            -0.5100001,
            -0.5,
            "m -0.5 -> -0.5100001 (-0.0100001), allowed -0.01",
            ("-0.5", "-0.5100001", "-0.0100001", "-2.0%"),
        ),
        # a warning shows the same digits
        (
            '{goal: minimize, max_regression: "2%", severity: warn}',
            0.51001,
            0.5,
            "m 0.5 -> 0.51001 (+2.002%), allowed +2%",
            ("0.5", "0.51001", "+0.01001", "+2.002%"),
        ),
        # a clear regression keeps the short default formats
        (
            '{goal: minimize, max_regression: "2%"}',
            0.801,
            0.742,
            "m 0.742 -> 0.801 (+8.0%), allowed +2%",
            ("0.742", "0.801", "+0.059", "+8.0%"),
        ),
    ],
)
def test_a_regression_shows_the_digits_that_break_the_allowance(
    rule: str, candidate: float, champion: float, reason: str, cells: tuple[str, ...]
) -> None:
    from ci_track.gate.numbers import result_cells

    (result,) = judge(f"metrics:\n  m: {rule}\n", {"m": candidate}, {"m": champion}).metrics
    assert result.status == "regressed" and result.outcome in ("fail", "warn")
    assert result.reason == reason
    assert result_cells(result) == cells
    shown_change = reason.split("(")[1].split(")")[0].split(", ")[-1]  # "+2.002%"
    assert result.short.startswith(f"m {shown_change} (")  # the headline shows the same digits


@pytest.mark.parametrize(
    ("rule", "candidate", "reason"),
    [
        ("{max: 0.3}", 0.3000001, "m 0.3000001 is above the maximum 0.3"),
        ("{min: -0.3}", -0.3000001, "m -0.3000001 is below the minimum -0.3"),
        ("{min: 1000000}", 999999.9, "m 999999.9 is below the minimum 1000000"),
    ],
)
def test_a_bound_breach_shows_the_digits_that_break_the_bound(rule: str, candidate: float, reason: str) -> None:
    from ci_track.gate.numbers import result_cells

    (result,) = judge(f"metrics:\n  m: {rule}\n", {"m": candidate}, None).metrics
    assert (result.status, result.reason) == ("out_of_bounds", reason)
    assert result_cells(result)[1] == reason.split()[1]  # the table shows the same candidate value


def test_passing_lines_keep_the_short_formats() -> None:
    (within,) = judge('metrics:\n  m: {goal: minimize, max_regression: "2%"}\n', {"m": 0.50999}, {"m": 0.5}).metrics
    assert within.reason == "m 0.5 -> 0.50999 (+2.0%), allowed +2%"
    (improved,) = judge("metrics:\n  m: {goal: minimize}\n", {"m": 0.7}, {"m": 0.742}).metrics
    assert improved.reason == "m 0.742 -> 0.7 (-0.042, -5.7%)"


def test_the_console_and_markdown_tables_show_the_same_digits_as_the_reason() -> None:
    from ci_track.report.console import render_table
    from ci_track.report.markdown import render_markdown

    comparison = judge('metrics:\n  m: {goal: minimize, max_regression: "2%"}\n', {"m": 0.51001}, {"m": 0.5})
    table = render_table(comparison)
    (row,) = [line for line in table.splitlines() if line.startswith("m ")]
    assert row.split() == ["m", "0.5", "0.51001", "+0.01001", "+2.002%", "REGRESSED"]
    assert "FAIL: m 0.5 -> 0.51001 (+2.002%), allowed +2%" in table
    assert "verdict: regression: m +2.002% (allowed +2%)" in table
    markdown = render_markdown(comparison, experiment="wine")
    assert "| 0.5 | 0.51001 | +0.01001 | +2.002% |" in markdown
