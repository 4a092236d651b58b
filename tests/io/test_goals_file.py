"""Goals lists from TOML: both entry forms, and unknown keys or bad goals refused naming the file and entry."""

from __future__ import annotations

import pytest

from braggdesk.errors import InputError
from braggdesk.io.goals_file import read_goals
from braggdesk.model.clinical_goals import ClinicalGoal

GOALS = """
prescription_gy = 70.0

[[goal]]
structure = "PTV70"
metric = "D95%"
threshold = 66.5
comparison = ">="

[[goal]]
structure = "Lung"
metric = "V20Gy"
threshold = 500
comparison = "<="
unit = "cc"
name = "lung V20"

[[goal]]
goal = "PTV70 V95% >= 98 %"
"""


def test_a_goals_file_reads_in_order(tmp_path):
    path = tmp_path / "goals.toml"
    path.write_text(GOALS)
    goals = read_goals(path)
    assert goals[0] == ClinicalGoal("PTV70", "D95%", 66.5, ">=", "Gy", 70.0)
    assert (goals[1].threshold_unit, goals[1].label) == ("cm3", "lung V20")
    assert goals[2].metric == "V95%" and goals[2].prescription_gy == 70.0 and goals[2].threshold == 98.0


@pytest.mark.parametrize("body, problem", [
    ('[[goal]]\nstructure = "PTV"\nmetric = "D95%"\ntreshold = 66.5\ncomparison = ">="\n', "unknown key treshold"),
    ('[[goal]]\nstructure = "PTV"\nmetric = "D95%"\ncomparison = ">="\n', "missing threshold"),
    ('[[goal]]\nstructure = "PTV"\nmetric = "D95%"\nthreshold = "a lot"\ncomparison = ">="\n', "not a number"),
    ('[[goal]]\nstructure = "PTV"\nmetric = "D95"\nthreshold = 1\ncomparison = ">="\n', "is not one of"),
    ('[[goals]]\nstructure = "PTV"\n', "unknown top-level key goals"),
    ('prescription_gy = 70\n', "holds no [[goal]] tables"),
    ('[[goal]\n', "not valid TOML"),
])
def test_bad_entries_are_refused_naming_the_file_and_entry(tmp_path, body, problem):
    path = tmp_path / "bad.toml"
    path.write_text(GOALS.split("[[goal]]")[0] + body if "[[goal]]\nstructure" in body else body)
    with pytest.raises(InputError) as info:
        read_goals(path)
    message = str(info.value)
    assert str(path) in message and problem in message and "\n" not in message
    if "treshold" in body:
        assert "goal 1 (PTV)" in message
