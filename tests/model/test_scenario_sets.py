"""Combined and sampled scenario sets (``braggdesk robust --combined``, ``--sample N``)."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.model.scenario import ScenarioError, combined_scenarios, default_scenarios, sampled_scenarios


def test_combined_pairs_every_shift_with_every_range_error():
    combined = combined_scenarios(3.0, 3.5)
    assert len(combined) == 12 and len({s.name for s in combined + default_scenarios()}) == 21
    assert {(s.shift_mm, s.range_scale) for s in combined} == {
        (sh.shift_mm, r.range_scale) for sh in default_scenarios(3.0, 0.0)[1:] for r in default_scenarios(0.0, 3.5)[1:]}
    assert combined_scenarios(0.0, 3.5) == [] and combined_scenarios(3.0, 0.0) == []


def test_sampled_shifts_are_gaussian_and_reproducible():
    many = sampled_scenarios(4000, 2.0, seed=1)
    shifts = np.array([s.shift_mm for s in many[1:]])
    assert many[0].is_nominal and shifts.shape == (4000, 3)
    assert np.allclose(shifts.std(axis=0), 2.0, rtol=0.05) and np.allclose(shifts.mean(axis=0), 0.0, atol=0.1)
    assert sampled_scenarios(3, 2.0, seed=7) == sampled_scenarios(3, 2.0, seed=7) != sampled_scenarios(3, 2.0, seed=8)
    with_range = sampled_scenarios(3, 2.0, seed=7, range_percent=3.5, combined=True)
    assert len(with_range) == 1 + 3 + 2 + 6
    with pytest.raises(ScenarioError, match="1 or more, got 0"):
        sampled_scenarios(0, 2.0)
    with pytest.raises(ScenarioError, match="above 0 mm"):
        sampled_scenarios(3, 0.0)
    with pytest.raises(ScenarioError, match="percentage from 0 to 20"):
        sampled_scenarios(3, 2.0, range_percent=-1.0)
