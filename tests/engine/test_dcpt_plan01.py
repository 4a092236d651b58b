"""The real Eclipse SOBP plan 1_SOBP_2Gy on the DCPT phantom (geometry A) with the DCPT beam model v2.

The plan prescribes 2.2 Gy(RBE) = 2.0 Gy physical (RBE 1.1) in a 10 x 10 x 10 cm SOBP whose centre
is the isocentre, in the middle of the PMMA detector plate 10.25 cm deep.  21 energy layers
(83-149 MeV) and 6069 spots: the dose there is the sum of Bragg peaks, plateaus and nuclear
secondaries of every layer, so it checks the metersets, the beam model's protons per MU and the
transport together, at a depth where the nuclear build-up is complete.
"""

from __future__ import annotations

import numpy as np
import pytest

from cases import dose_in_the_plate_gy, run_dcpt_plan


@pytest.fixture(scope="module")
def plan01_run():
    return run_dcpt_plan("plan01_sobp_eclipse", "A", primaries=200_000, seed=3, batches=4)


@pytest.mark.slow
def test_plan01_gives_2_gy_at_the_sobp_centre(plan01_run):
    _, _, result, iso = plan01_run
    assert dose_in_the_plate_gy(result, iso) == pytest.approx(2.0, rel=0.03)


@pytest.mark.slow
def test_plan01_sobp_is_flat_within_4_percent_over_its_central_6_cm(plan01_run):
    _, _, result, iso = plan01_run
    x, y, z = result.grid.axis_coordinates_mm()
    lateral = np.ix_(np.abs(z - iso[2]) < 20, np.ones(y.size, bool), np.abs(x - iso[0]) < 20)
    depth_dose = result.dose_gy[lateral].mean(axis=(0, 2))
    central = depth_dose[np.abs(y - iso[1]) < 30]
    assert central.max() / central.min() < 1.04, np.round(central, 3)
