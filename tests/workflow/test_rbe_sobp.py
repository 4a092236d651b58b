"""Issue 18's check of the RBE models on the demo SOBP (figures at finer grids in benchmarks/README.md).

McNamara 2015 with alpha/beta 2 Gy puts the RBE-weighted distal 80 % 1-3 mm beyond the physical one,
as LET-based models are published to; with alpha/beta 10 Gy the shift is smaller (about 0.4-0.5 mm
here: the RBE at the distal edge is only ~5 % above the plateau's), and the mid-SOBP RBE is near 1.1.
"""

from __future__ import annotations

import pytest

from braggdesk.workflow.rbe_dose import RbeSettings
from braggdesk.workflow.rbe_sobp import demo_target_depths_mm, sobp_rbe_figures


@pytest.fixture(scope="module")
def demo_dose():
    import braggdesk as bd
    from braggdesk.io.demo_case import demo_case

    case = bd.demo_case(spacing_mm=3.0)
    job = bd.make_job(case.ct, case.plan, primaries=60_000, batches=4, seed=5, device="cpu",
                      calibration=case.calibration, beam_model=case.beam_model)
    return bd.calculate(job).run(), demo_target_depths_mm(demo_case(3.0))


def test_mcnamara_distal_80_lies_beyond_the_physical_and_mid_sobp_rbe_is_near_1_1(demo_dose):
    dose, depths = demo_dose
    low = sobp_rbe_figures(dose, RbeSettings("mcnamara", 2.0), depths)
    high = sobp_rbe_figures(dose, RbeSettings("mcnamara", 10.0), depths)
    assert depths[0] < low.r80_physical_mm < depths[1] + 5.0  # the distal edge of the target
    assert 1.0 <= low.r80_shift_mm <= 3.0
    assert 0.2 <= high.r80_shift_mm < low.r80_shift_mm
    assert high.mid_sobp_rbe == pytest.approx(1.1, abs=0.04)
    assert low.mid_sobp_rbe > high.mid_sobp_rbe + 0.1  # low alpha/beta: more effect for the same LETd
    assert 2.0 < high.mid_sobp_let_kev_um < 4.5  # a mid-SOBP LETd of a few keV/um
    constant = sobp_rbe_figures(dose, RbeSettings("constant"), depths)
    assert constant.r80_shift_mm == pytest.approx(0.0, abs=1e-6) and constant.mid_sobp_rbe == pytest.approx(1.1)
    wedenberg = sobp_rbe_figures(dose, RbeSettings("wedenberg", 2.0), depths)
    assert 1.0 <= wedenberg.r80_shift_mm <= 3.0
