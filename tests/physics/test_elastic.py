"""Proton-proton elastic scattering (physics.elastic): cross section and kinematics."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.physics.elastic import (pp_elastic_macroscopic_per_cm, pp_elastic_sigma_mb,
                                              pp_lab_angles)
from braggdesk.physics.material_constants import WATER
from braggdesk.physics.water import PROTON_MASS_MEV
from braggdesk.model import Material


@pytest.mark.parametrize("energy_mev, measured_mb", [(100.0, 33.0), (150.0, 25.0), (200.0, 23.5)])
def test_cross_section_per_hydrogen_atom_is_the_measured_pp_elastic_one(energy_mev, measured_mb):
    # p-p elastic (nuclear) cross sections from the SAID/PDG compilations, about 5 % accurate here
    assert float(pp_elastic_sigma_mb(energy_mev)) == pytest.approx(measured_mb, rel=0.06)


def test_macroscopic_scales_with_hydrogen_and_density_and_vanishes_below_10_mev():
    e = np.array([5.0, 50.0, 150.0])
    water = pp_elastic_macroscopic_per_cm(WATER, 1.0, e)
    assert water[0] == 0 and water[2] == pytest.approx(0.315 * 150 ** -1.126 + 3.78e-6 * 150, rel=0.001)
    half_h = Material("x", 2.0, {"H": 0.055947, "O": 0.944053})
    np.testing.assert_allclose(pp_elastic_macroscopic_per_cm(half_h, 2.0, e), water, rtol=1e-3)
    assert np.all(pp_elastic_macroscopic_per_cm(Material("C", 2.0, {"C": 1.0}), None, e) == 0)


def test_lab_angles_conserve_momentum_and_energy():
    rng = np.random.default_rng(3)
    t = rng.uniform(10, 250, 1000)
    cos_cm = rng.uniform(-1, 1, 1000)
    th1, th2 = pp_lab_angles(np, t, cos_cm)
    t2 = t * (1 - cos_cm) / 2
    t1 = t - t2
    p = lambda k: np.sqrt(k * (k + 2 * PROTON_MASS_MEV))  # noqa: E731
    np.testing.assert_allclose(p(t1) * np.cos(th1) + p(t2) * np.cos(th2), p(t), rtol=1e-9)
    np.testing.assert_allclose(p(t1) * np.sin(th1), p(t2) * np.sin(th2), rtol=1e-6, atol=1e-9)
    # relativistic opening angle: below 90 degrees (90 degrees exactly in the classical limit)
    assert np.all(th1 + th2 <= np.pi / 2 + 1e-12)
