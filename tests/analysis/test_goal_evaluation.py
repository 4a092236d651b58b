"""Goals evaluated on a dose: values from the DVH, met / missed, margins, unknown structures."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.analysis.clinical_goals import evaluate_goals
from braggdesk.model import Roi, StructureMask, Volume
from braggdesk.model.clinical_goals import ClinicalGoal, GoalError, parse_goal


def _case():
    """A 10 x 10 x 1 grid of 1 cm3 voxels: 'PTV' the left half (2 Gy in 5 voxels, 4 Gy in 45), 'OAR' the right half
    with a ramp 0.5 .. 49.5 Gy (hand-computable DVH: V(>= d) = number of ramp values >= d)."""
    grid = Volume(np.zeros((1, 10, 10), np.float32), (10.0, 10.0, 10.0), (0.0, 0.0, 0.0))
    dose = np.zeros((1, 10, 10))
    left = np.zeros((1, 10, 10), np.float32)
    left[..., :5] = 1.0
    dose[..., :5] = 4.0
    dose[0, 0, :5] = 2.0
    dose[..., 5:] = (np.arange(50) + 0.5).reshape(1, 10, 5)
    masks = {"PTV": StructureMask(Roi(1, "PTV"), grid, left), "OAR": StructureMask(Roi(2, "OAR"), grid, 1.0 - left)}
    return dose, masks


def test_values_margins_and_met_on_a_hand_computed_case():
    dose, masks = _case()
    goals = [parse_goal(t, prescription_gy=4.0) for t in (
        "PTV D95% >= 3.9 Gy",   # the coldest 10 % get 2 Gy: D95% = 2 Gy, missed by 1.9
        "PTV D90% >= 3.9 Gy",   # exactly 90 % of the volume get 4 Gy: met with 0.1 to spare
        "PTV Dmean >= 3.5 Gy",  # (5 * 2 + 45 * 4) / 50 = 3.8
        "PTV Dmin >= 1 Gy", "PTV Dmax <= 4 Gy",
        "PTV V95% >= 90 %",     # >= 3.8 Gy: 45 of 50 voxels
        "OAR V20Gy <= 50 %",    # ramp values 20.5 .. 49.5: 30 of 50 voxels = 60 %
        "OAR V20Gy <= 30 cc",   # 30 cm3: met, margin 0
        "OAR D2cc <= 49 Gy",    # the hottest 2 cm3: 48.5 Gy (between the sorted voxels 49.5 and 48.5)
    )]
    res = evaluate_goals(dose, masks, goals)
    values = [r.value for r in res]
    expected = [2.0, 4.0, 3.8, 2.0, 4.0, 90.0, 60.0, 30.0, 48.5]
    np.testing.assert_allclose(values, expected, rtol=1e-9)
    assert [r.met for r in res] == [False, True, True, True, True, True, False, True, True]
    np.testing.assert_allclose([r.margin for r in res], [-1.9, 0.1, 0.3, 1.0, 0.0, 0.0, -10.0, 0.0, 0.5], atol=1e-9)
    d = res[0].as_dict()
    assert d["goal"] == "PTV D95% >= 3.9 Gy" and d["met"] is False and d["unit"] == "Gy"


def test_structure_names_match_ignoring_case_and_the_voxel_volume_can_be_given():
    dose, masks = _case()
    (r,) = evaluate_goals(dose, masks, [ClinicalGoal("oar", "V20Gy", 30.0, "<=", "cm3")], voxel_volume_cm3=2.0)
    assert r.value == pytest.approx(60.0)  # 30 voxels of 2 cm3


def test_an_unknown_structure_names_the_goal_and_what_there_is():
    dose, masks = _case()
    with pytest.raises(GoalError) as info:
        evaluate_goals(dose, masks, [parse_goal("PTV Dmean >= 1 Gy"), parse_goal("Parotid_L Dmean <= 26 Gy")])
    message = str(info.value)
    assert "Parotid_L Dmean <= 26 Gy" in message and "no structure named 'Parotid_L'" in message
    assert "OAR, PTV" in message and "\n" not in message


def test_a_dose_on_another_grid_is_refused():
    dose, masks = _case()
    with pytest.raises(GoalError, match="grid of shape"):
        evaluate_goals(dose[..., :4], masks, [parse_goal("PTV Dmean >= 1 Gy")])
