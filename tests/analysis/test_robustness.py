"""Scenario doses summarised: envelopes, the worst scenario per goal, DVH bands that hold every scenario."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.analysis.robustness import dose_envelope, dvh_bands, goals_across_scenarios
from braggdesk.model import Roi, StructureMask, Volume
from braggdesk.model.clinical_goals import parse_goal


def _case():
    grid = Volume(np.zeros((1, 1, 6), np.float32), (10.0, 10.0, 10.0), (0.0, 0.0, 0.0))
    ptv = StructureMask(Roi(1, "PTV"), grid, np.array([[[0, 1, 1, 1, 1, 0]]], np.float32))
    base = np.array([[[0.0, 2.0, 2.0, 2.0, 2.0, 0.0]]])
    doses = {"nominal": base, "cold": base * 0.9, "hot": base * 1.1, "shifted": np.roll(base, 1, axis=2)}
    return doses, {"PTV": ptv}


def test_envelope_is_the_voxelwise_min_and_max():
    doses, _ = _case()
    low, high = dose_envelope(doses)
    np.testing.assert_allclose(low.ravel(), [0, 0, 1.8, 1.8, 1.8, 0])
    np.testing.assert_allclose(high.ravel(), [0, 2.2, 2.2, 2.2, 2.2, 2.0])
    with pytest.raises(ValueError, match="shape"):
        dose_envelope({"a": np.zeros(3), "b": np.zeros(4)})


def test_each_goal_names_its_worst_scenario():
    doses, masks = _case()
    coverage, hot = goals_across_scenarios(doses, masks, [parse_goal("PTV Dmin >= 1.9 Gy"),
                                                           parse_goal("PTV Dmax <= 2.1 Gy")])
    assert coverage.worst == "shifted" and coverage.results["shifted"].value == 0.0  # the shift uncovers a voxel
    assert [n for n, r in coverage.results.items() if not r.met] == ["cold", "shifted"]
    assert hot.worst == "hot" and not hot.met_in_all and hot.results["hot"].margin == pytest.approx(-0.1)
    d = coverage.as_dict()
    assert d["worst_scenario"] == "shifted" and d["scenarios_missed"] == ["cold", "shifted"]


def test_dvh_bands_hold_every_scenario_and_the_nominal_curve():
    doses, masks = _case()
    (band,) = dvh_bands(doses, masks, bins=50)
    assert band.structure == "PTV" and band.dose_gy[0] == 0.0
    at = lambda d: int(np.searchsorted(band.dose_gy, d))  # noqa: E731
    # at 1.9 Gy: 'cold' holds 0 %, 'shifted' 75 %, nominal and 'hot' 100 %
    assert band.min_percent[at(1.9)] == pytest.approx(0.0) and band.max_percent[at(1.9)] == pytest.approx(100.0)
    assert band.nominal_percent[at(1.9)] == pytest.approx(100.0)
    assert np.all(band.min_percent <= band.nominal_percent) and np.all(band.nominal_percent <= band.max_percent)
    assert band.worst_width_percent == pytest.approx(100.0)
