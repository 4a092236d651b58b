"""RBE models against the published equations, their LQ limits, per-structure alpha/beta and refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from braggdesk.analysis.rbe import (RbeError, alpha_beta_map, lq_rbe, rbe, rbe_max_min, rbe_weighted_dose)
from braggdesk.model import Roi, StructureMask, Volume


def _reference_rbe(model: str, d: float, let: float, ab: float) -> float:
    """Written out from the papers' equations, one scalar at a time (no numpy, no code shared with the module)."""
    if model == "mcnamara":  # McNamara et al. 2015, PMB 60:8399, eqs. 6-7
        rmax = 0.99064 + (0.35605 / ab) * let
        rmin = 1.1012 - 0.0038703 * math.sqrt(ab) * let
    else:  # Wedenberg et al. 2013, Acta Oncol 52:580
        rmax, rmin = 1.0 + 0.434 * let / ab, 1.0
    return (math.sqrt(ab * ab + 4 * d * ab * rmax + 4 * d * d * rmin * rmin) - ab) / (2 * d)


POINTS = [(d, let, ab) for d in (0.5, 1.8, 2.0, 8.0) for let in (0.5, 2.5, 5.0, 12.0) for ab in (1.5, 2.0, 3.0, 10.0)]


@pytest.mark.parametrize("model", ["mcnamara", "wedenberg"])
def test_models_follow_the_published_equations_at_tabulated_points(model):
    d, let, ab = (np.array(c, float) for c in zip(*POINTS))
    got = rbe(model, d, let, ab)
    expected = [_reference_rbe(model, *p) for p in POINTS]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_one_point_worked_by_hand():
    # McNamara, a/b = 2 Gy, LETd = 5 keV/um, d = 2 Gy:
    # RBEmax = 0.99064 + 0.35605 / 2 * 5 = 1.880765; RBEmin = 1.1012 - 0.0038703 * sqrt(2) * 5 = 1.0738331
    # RBE = (sqrt(4 + 4*2*2*1.880765 + 4*4*1.0738331^2) - 2) / 4 = (sqrt(52.54211) - 2) / 4 = 1.312147
    rmax, rmin = rbe_max_min("mcnamara", 5.0, 2.0)
    assert float(rmax) == pytest.approx(1.880765, abs=1e-6) and float(rmin) == pytest.approx(1.0738331, abs=1e-6)
    assert float(rbe("mcnamara", 2.0, 5.0, 2.0)) == pytest.approx(1.312147, abs=2e-6)
    # Wedenberg, a/b = 3 Gy, LETd = 6 keV/um, d = 2 Gy: RBEmax = 1.868, RBEmin = 1
    # RBE = (sqrt(9 + 24 * 1.868 + 16) - 3) / 4 = (8.356554 - 3) / 4 = 1.339139
    assert float(rbe("wedenberg", 2.0, 6.0, 3.0)) == pytest.approx(1.339139, abs=2e-6)


@pytest.mark.parametrize("model", ["mcnamara", "wedenberg"])
def test_lq_limits_rbemax_at_low_dose_rbemin_at_high_dose(model):
    let, ab = np.array([1.0, 4.0, 9.0]), np.array([2.0, 10.0, 3.0])
    rmax, rmin = rbe_max_min(model, let, ab)
    np.testing.assert_allclose(rbe(model, np.full(3, 1e-7), let, ab), rmax, rtol=1e-6)
    np.testing.assert_allclose(rbe(model, np.full(3, 1e7), let, ab), rmin, rtol=1e-5)
    np.testing.assert_allclose(rbe(model, np.zeros(3), let, ab), rmax)  # d = 0: the limit, not a NaN
    # between the limits the RBE falls monotonically with dose where RBEmax > RBEmin
    doses = np.array([0.1, 0.5, 1.0, 2.0, 5.0, 20.0])
    values = [float(rbe(model, d, 4.0, 2.0)) for d in doses]
    assert all(a > b for a, b in zip(values, values[1:]))


def test_known_behaviour_of_the_models():
    # Wedenberg at LETd 0 is 1 at any dose; higher LET and lower alpha/beta give a higher RBE
    assert float(rbe("wedenberg", 2.0, 0.0, 3.0)) == pytest.approx(1.0)
    assert rbe("mcnamara", 2.0, 8.0, 2.0) > rbe("mcnamara", 2.0, 2.0, 2.0) > 1.0
    assert rbe("mcnamara", 2.0, 5.0, 2.0) > rbe("mcnamara", 2.0, 5.0, 10.0)
    # mid-SOBP (LETd ~2-3 keV/um, 2 Gy, a/b 10 Gy): near the clinical 1.1
    assert 1.04 < float(rbe("mcnamara", 2.0, 2.5, 10.0)) < 1.15
    np.testing.assert_array_equal(rbe("constant", np.ones((2, 2))), np.full((2, 2), 1.1))


def test_rbe_weighted_dose_uses_the_dose_per_fraction():
    dose, let = np.array([0.0, 2.0, 60.0]), np.array([0.0, 3.0, 3.0])
    one = rbe_weighted_dose(dose, let, 2.0, model="mcnamara")
    assert one[0] == 0.0 and one[1] == pytest.approx(2.0 * _reference_rbe("mcnamara", 2.0, 3.0, 2.0))
    course = rbe_weighted_dose(dose, let, 2.0, model="mcnamara", fractions=30)  # 60 Gy in 30 x 2 Gy
    assert course[2] == pytest.approx(60.0 * _reference_rbe("mcnamara", 2.0, 3.0, 2.0))
    assert rbe_weighted_dose(dose, model="constant")[2] == pytest.approx(66.0)


def test_alpha_beta_per_structure_with_a_default():
    grid = Volume(np.zeros((1, 1, 4), np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    ptv = StructureMask(Roi(1, "PTV"), grid, np.array([[[1.0, 1.0, 0.0, 0.0]]], np.float32))
    cord = StructureMask(Roi(2, "Cord"), grid, np.array([[[0.0, 1.0, 0.6, 0.2]]], np.float32))
    ab = alpha_beta_map((1, 1, 4), {"PTV": ptv, "Cord": cord}, {"PTV": 10.0, "cord": 2.0}, default_gy=3.0)
    np.testing.assert_array_equal(ab.ravel(), [10.0, 10.0, 2.0, 3.0])  # PTV listed first wins the overlap
    with pytest.raises(RbeError, match="no such structure"):
        alpha_beta_map((1, 1, 4), {"PTV": ptv}, {"Brainstem": 2.0})


@pytest.mark.parametrize("bad", [0.0, -2.0, float("nan")])
def test_alpha_beta_of_zero_or_below_is_one_clear_line(bad):
    with pytest.raises(RbeError) as info:
        rbe("mcnamara", np.ones(3), np.ones(3), np.array([2.0, bad, 2.0]))
    assert "alpha/beta must be a positive number of Gy" in str(info.value) and "\n" not in str(info.value)
    grid = Volume(np.zeros((1, 1, 2), np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    ptv = StructureMask(Roi(1, "PTV"), grid, np.ones((1, 1, 2), np.float32))
    with pytest.raises(RbeError, match="alpha/beta of 'PTV'"):
        alpha_beta_map((1, 1, 2), {"PTV": ptv}, {"PTV": bad})
    with pytest.raises(RbeError, match="default alpha/beta"):
        alpha_beta_map((1, 1, 2), {}, {}, default_gy=bad)


def test_other_refusals():
    with pytest.raises(RbeError, match="not one of"):
        rbe("carabe", 2.0, 1.0, 2.0)
    with pytest.raises(RbeError, match="needs the LETd"):
        rbe("wedenberg", np.ones(2), None, 2.0)
    with pytest.raises(RbeError, match="fractions"):
        rbe_weighted_dose(np.ones(2), np.ones(2), 2.0, fractions=0)
    with pytest.raises(RbeError, match="negative"):
        lq_rbe(np.array([-1.0]), 1.2, 1.0, 2.0)
