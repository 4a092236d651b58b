"""Plan QA comparison: identical, shifted and mis-scaled doses give the numbers a physicist expects."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.analysis.plan_qa import GROSS_RATIO_LIMITS, choose_target, compare_plan_doses, profiles_through
from braggdesk.model import Roi, StructureMask, Volume


def _grid(origin_y: float = -40.0) -> Volume:
    return Volume(np.zeros((20, 24, 20), np.float32), (3.0, 3.0, 3.0), (-28.5, origin_y, -28.5))


def _sobp(grid: Volume, shift_y_mm: float = 0.0, scale: float = 1.0) -> Volume:
    """A box-like SOBP: flat 2 Gy in |x|, |z| < 15 mm, y in [-10, 20] mm, smooth edges."""
    x, y, z = grid.axis_coordinates_mm()
    zz, yy, xx = np.meshgrid(z, y - shift_y_mm, x, indexing="ij")

    def edge(v, lo, hi, s=3.0):
        return 1 / (1 + np.exp(-(v - lo) / s)) * 1 / (1 + np.exp((v - hi) / s))

    dose = 2.0 * edge(xx, -15, 15) * edge(zz, -15, 15) * (0.6 + 0.4 * edge(yy, -10, 20, 2.0))
    dose *= 1 / (1 + np.exp((yy - 20) / 2.0))
    return grid.with_values((scale * dose).astype(np.float32))


def _target(grid: Volume) -> StructureMask:
    x, y, z = grid.axis_coordinates_mm()
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    frac = ((abs(xx) < 10) & (abs(zz) < 10) & (yy > -5) & (yy < 15)).astype(np.float32)
    return StructureMask(Roi(1, "PTV", (255, 0, 0), roi_type="PTV"), grid, frac)


def test_identical_doses_pass_everything_and_differ_by_nothing():
    ref = _sobp(_grid())
    qa = compare_plan_doses(ref, ref, [_target(ref)])
    assert [g.pass_rate_percent for g in qa.gamma] == [100.0, 100.0, 100.0]
    assert qa.ratio.median == pytest.approx(1.0) and not qa.ratio.gross_mismatch
    assert qa.target == "PTV" and qa.scalings == []
    diff = qa.structures[0].difference_gy()
    assert all(abs(v) < 1e-6 for v in diff.values())
    s = qa.summary()
    assert s["gamma_2pct_2mm_pass_rate_percent"] == 100.0 and s["absolute_dose_mismatch"] is False


def test_a_shift_fails_tight_criteria_more_than_loose_ones():
    grid = _grid()
    ref = _sobp(grid)
    shifted = _sobp(grid, shift_y_mm=2.5)
    qa = compare_plan_doses(ref, shifted, [_target(ref)])
    rates = [g.pass_rate_percent for g in qa.gamma]  # 3/3, 2/2, 1/1
    assert rates[0] == 100.0  # 2.5 mm is inside 3 mm
    assert rates[0] > rates[2] and rates[2] < 95.0
    assert not qa.ratio.gross_mismatch  # the plateau still agrees


def test_a_gross_scale_is_flagged_and_normalised_only_when_asked():
    grid = _grid()
    ref = _sobp(grid)
    low = _sobp(grid, scale=0.01)
    plain = compare_plan_doses(ref, low, [_target(ref)])
    assert plain.ratio.gross_mismatch and plain.ratio.median == pytest.approx(0.01, rel=1e-3)
    assert plain.gamma[0].pass_rate_percent < 5.0 and plain.total_scale == 1.0
    normalised = compare_plan_doses(ref, low, [_target(ref)], normalise_to_reference=True)
    assert normalised.ratio.median == pytest.approx(0.01, rel=1e-3)  # reported as measured, before scaling
    assert normalised.scaling("normalise_to_reference") == pytest.approx(100.0, rel=1e-3)
    assert normalised.gamma[1].pass_rate_percent == pytest.approx(100.0)
    s = normalised.summary()
    assert s["normalised_to_reference"] is True and s["absolute_dose_mismatch"] is True
    assert GROSS_RATIO_LIMITS[0] < 1 < GROSS_RATIO_LIMITS[1]


def test_an_rbe_factor_is_applied_and_recorded():
    ref = _sobp(_grid())
    physical = ref.with_values(ref.values / 1.1)
    qa = compare_plan_doses(ref, physical, [_target(ref)], rbe_factor=1.1)
    assert qa.ratio.median == pytest.approx(1.0, rel=1e-5) and qa.scaling("rbe") == 1.1
    assert qa.gamma[2].pass_rate_percent == 100.0


def test_an_evaluated_dose_on_another_grid_is_put_on_the_reference_grid():
    ref = _sobp(_grid())
    fine = Volume(np.zeros((40, 48, 40), np.float32), (1.5, 1.5, 1.5), (-29.25, -40.75, -29.25))
    qa = compare_plan_doses(ref, _sobp(fine), [_target(ref)])
    assert qa.evaluated.shape == ref.shape and qa.gamma[0].resampled
    assert qa.gamma[1].pass_rate_percent > 99.0


def test_profiles_run_along_the_beam_through_the_isocentre():
    grid = _grid()
    qa = compare_plan_doses(_sobp(grid), _sobp(grid, shift_y_mm=3.0), [])
    pairs = profiles_through(qa, (0.0, 0.0, 0.0), (0.0, 1.0, 0.0), [("beam X", (1.0, 0.0, 0.0))])
    assert [p.name for p in pairs] == ["depth dose", "lateral beam X"]
    depth = pairs[0]
    shift = depth.distal_position_mm(80, "evaluated") - depth.distal_position_mm(80, "reference")
    assert shift == pytest.approx(3.0, abs=0.3)


def test_choose_target():
    grid = _grid()
    ext = StructureMask(Roi(2, "External", (0, 255, 0), roi_type="EXTERNAL"), grid, np.ones(grid.shape, np.float32))
    target = _target(grid)
    assert choose_target([ext, target]).name == "PTV"
    assert choose_target([ext]) is None
    assert choose_target([ext, target], "external").name == "External"
    with pytest.raises(KeyError, match="no structure named"):
        choose_target([ext], "CTV")
