"""workflow/rbe_dose.py: the settings every RBE-weighted dose is made with, and the dose itself."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.analysis.rbe import RbeError, rbe
from braggdesk.model import Roi, StructureMask, Volume
from braggdesk.workflow.rbe_dose import RbeSettings, parse_structure_alpha_beta, rbe_weighted_gy


def _mask(name: str, fraction: np.ndarray) -> StructureMask:
    grid = Volume(np.zeros(fraction.shape, np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    return StructureMask(Roi(1, name), grid, fraction.astype(np.float32))


def test_settings_refuse_bad_values_with_one_line():
    with pytest.raises(RbeError, match="'lem' is not one of"):
        RbeSettings("lem")
    with pytest.raises(RbeError, match="default alpha/beta must be a positive number of Gy, got 0"):
        RbeSettings(alpha_beta_gy=0.0)
    with pytest.raises(RbeError, match="alpha/beta of 'Rectum'.*got -2"):
        RbeSettings(alpha_beta_by_structure=(("Rectum", -2.0),))
    with pytest.raises(RbeError, match="fractions must be a positive whole number, got 0"):
        RbeSettings(fractions=0)
    with pytest.raises(RbeError, match="NAME=GY, got 'Rectum'"):
        parse_structure_alpha_beta(["Rectum"])
    assert parse_structure_alpha_beta(["Rectum=3, PTV = 10", "Cord=2"]) == (("Rectum", 3.0), ("PTV", 10.0),
                                                                           ("Cord", 2.0))


def test_constant_and_let_models_per_voxel_and_per_structure():
    dose = np.array([[[0.0, 1.0, 2.0, 2.0]]])
    let = np.array([[[1.0, 2.0, 8.0, 8.0]]])
    assert np.allclose(rbe_weighted_gy(dose, None, RbeSettings("constant")), 1.1 * dose)
    with pytest.raises(RbeError, match="needs LETd"):
        rbe_weighted_gy(dose, None, RbeSettings("mcnamara"))
    settings = RbeSettings("mcnamara", 10.0, (("Rectum", 2.0),))
    rectum = _mask("Rectum", np.array([[[0, 0, 0, 1.0]]]))
    out = rbe_weighted_gy(dose, let, settings, [rectum])
    assert out.dtype == np.float32 and out[0, 0, 0] == 0.0
    assert out[0, 0, 2] == pytest.approx(2.0 * float(rbe("mcnamara", 2.0, 8.0, 10.0)), rel=1e-6)
    assert out[0, 0, 3] == pytest.approx(2.0 * float(rbe("mcnamara", 2.0, 8.0, 2.0)), rel=1e-6)
    assert out[0, 0, 3] > out[0, 0, 2]  # a low alpha/beta: more effect at high LET
    # a dose of 5 fractions: the RBE at the dose per fraction
    five = rbe_weighted_gy(dose * 5, let, RbeSettings("wedenberg", 3.0, fractions=5))
    assert np.allclose(five, 5 * rbe_weighted_gy(dose, let, RbeSettings("wedenberg", 3.0)), rtol=1e-6)
    with pytest.raises(RbeError, match="no such structure"):
        rbe_weighted_gy(dose, let, RbeSettings("mcnamara", 10.0, (("Cord", 2.0),)), [rectum])
