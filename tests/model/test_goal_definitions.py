"""Clinical goals as data: the text form, the metrics physicists write, and one clear line for a bad goal."""

from __future__ import annotations

import math

import pytest

from braggdesk.model.clinical_goals import ClinicalGoal, GoalError, Metric, parse_goal, parse_metric


@pytest.mark.parametrize("text, metric", [
    ("D95%", Metric("D", 95.0, "%")), ("d2%", Metric("D", 2.0, "%")), ("D0.03cc", Metric("D", 0.03, "cm3")),
    ("D1cm3", Metric("D", 1.0, "cm3")), ("V20Gy", Metric("V", 20.0, "Gy")), ("V95%", Metric("V", 95.0, "%")),
    ("V47.5Gy", Metric("V", 47.5, "Gy")), ("Dmean", Metric("Dmean")), ("DMAX", Metric("Dmax")), ("Dmin", Metric("Dmin")),
])
def test_metrics_as_physicists_write_them(text, metric):
    got = parse_metric(text)
    assert (got.kind, got.amount_unit) == (metric.kind, metric.amount_unit)
    assert (math.isnan(got.amount) and math.isnan(metric.amount)) or got.amount == metric.amount


@pytest.mark.parametrize("text", ["D95", "D120%", "V20", "Dmedian", "X95%", "V20Gray", ""])
def test_unknown_metrics_are_refused(text):
    with pytest.raises(GoalError, match="metric"):
        parse_metric(text)


def test_the_text_form_round_trips_through_the_label():
    goal = parse_goal("PTV70 D95% >= 66.5 Gy")
    assert goal == ClinicalGoal("PTV70", "D95%", 66.5, ">=", "Gy")
    assert goal.label == "PTV70 D95% >= 66.5 Gy"
    assert parse_goal(goal.label) == goal
    lung = parse_goal("Lung total V20Gy <= 30 %")  # a structure name with a space
    assert (lung.structure, lung.metric, lung.threshold_unit) == ("Lung total", "V20Gy", "%")
    rectum = parse_goal("Rectum V50Gy<=10cc")
    assert (rectum.threshold, rectum.threshold_unit) == (10.0, "cm3")
    cord = parse_goal("SpinalCord D0.03cc <= 45")  # a dose metric's unit defaults to Gy
    assert cord.threshold_unit == "Gy" and cord.label == "SpinalCord D0.03cc <= 45 Gy"
    assert parse_goal("PTV V95% >= 98 %", prescription_gy=70.0).prescription_gy == 70.0


def test_met_and_margin_follow_the_comparison():
    at_most = ClinicalGoal("Cord", "Dmax", 45.0, "<=")
    assert at_most.met_by(44.0) and at_most.margin(44.0) == 1.0
    assert not at_most.met_by(46.5) and at_most.margin(46.5) == -1.5
    at_least = ClinicalGoal("PTV", "D95%", 66.5, ">=")
    assert at_least.met_by(66.5) and not at_least.met_by(66.4)
    assert at_least.margin(70.0) == pytest.approx(3.5)
    assert not at_least.met_by(float("nan"))


@pytest.mark.parametrize("text, problem", [
    ("PTV70 D95% > 66.5 Gy", "comparison must be '<=' or '>='"),
    ("PTV70 D95% >= 66.5 cc", "is a dose, its threshold is in Gy"),
    ("Lung V20Gy <= 30 Gy", "is a volume, its threshold is in % or cm3"),
    ("Lung V20Gy <= 130 %", "cannot exceed 100"),
    ("PTV V95% >= 98 %", "give prescription_gy"),
    ("PTV70 D95x >= 66.5 Gy", "is not one of"),
    ("PTV70 >= 66.5 Gy", "expected 'STRUCTURE METRIC"),
    ("PTV70 D95% >= -1 Gy", "finite number >= 0"),
])
def test_a_malformed_goal_is_one_line_naming_it(text, problem):
    with pytest.raises(GoalError) as info:
        parse_goal(text)
    message = str(info.value)
    assert problem in message and text in message and "\n" not in message


def test_a_goal_built_directly_checks_itself():
    with pytest.raises(GoalError, match="comparison"):
        ClinicalGoal("PTV", "D95%", 66.5, "=>")
    with pytest.raises(GoalError, match="structure name is empty"):
        ClinicalGoal(" ", "Dmean", 1.0, "<=")
    with pytest.raises(GoalError, match="not a number"):
        ClinicalGoal("PTV", "Dmean", "high", "<=")  # type: ignore[arg-type]
    assert isinstance(GoalError("x"), ValueError)
