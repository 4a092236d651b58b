"""The demo SOBP's target ROI: where the lowest and highest energies stop, through bone and lung."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.analysis.rasterize import roi_volume_cm3
from braggdesk.workflow.demo import demo_target_roi, geometric_depth_mm
from braggdesk.physics.water import water_table
from braggdesk.io.demo_case import DEMO_ENERGIES_MEV, demo_case


def test_water_equivalent_depth_through_the_slabs():
    case = demo_case(spacing_mm=5.0)
    # still in the first water slab (the Bethe ratio of the phantom's water to PSTAR water is 0.9995)
    assert geometric_depth_mm(case, 15.0) == pytest.approx(-100.0 + 15.0, abs=0.02)
    after_bone = geometric_depth_mm(case, 20.0 + 20.0 * 1.7) + 100.0
    assert 38.0 < after_bone < 42.0  # cortical bone stops protons about 1.6-1.8 times faster than water
    # lung (0.26 g/cm3): 30 mm of it is about 8 mm of water
    start = geometric_depth_mm(case, 60.0 + 20.0 * 0.7)
    assert geometric_depth_mm(case, 60.0 + 20.0 * 0.7 + 8.0) - start == pytest.approx(30.0, abs=4.0)
    with pytest.raises(ValueError, match="beyond"):
        geometric_depth_mm(case, 1000.0)


def test_target_box_spans_the_energies_ranges_and_the_field():
    case = demo_case(spacing_mm=5.0)
    roi = demo_target_roi(case)
    pts = np.concatenate(roi.contours)
    assert pts[:, 0].min() == -30.0 and pts[:, 0].max() == 30.0
    assert pts[:, 2].min() == pytest.approx(-27.5) and pts[:, 2].max() == pytest.approx(27.5)  # 5 mm slices
    r_lo, r_hi = 10.0 * water_table().range_g_cm2(np.array([min(DEMO_ENERGIES_MEV), max(DEMO_ENERGIES_MEV)]))
    depth = pts[:, 1].max() - pts[:, 1].min()
    assert depth == pytest.approx(r_hi - r_lo, rel=1e-3)  # both ends lie in the water behind the lung
    assert roi_volume_cm3(roi) == pytest.approx(60 * 60 * depth * 1e-3)
