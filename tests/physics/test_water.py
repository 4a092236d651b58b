"""Water range-energy table, LET, straggling and Highland helpers against reference data."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from braggdesk.physics import water
from braggdesk.physics.water import (
    WATER_Z_OVER_A, beta_squared, bohr_variance_mev2_per_g_cm2, highland_f, highland_theta0_sq, let_kev_um,
    p_beta_mev, water_table,
)

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "physics"


@pytest.fixture(scope="module")
def pstar() -> dict[str, np.ndarray]:
    with open(DATA / "pstar_water.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {k: np.array([float(r[k]) if r[k] else np.nan for r in rows]) for k in rows[0]}


def test_grids_are_uniform_in_log():
    t = water_table()
    energy = t.energy_grid.nodes()
    assert energy[0] == pytest.approx(0.1) and energy[-1] == pytest.approx(400.0)
    assert np.allclose(np.diff(np.log(energy)), 1 / t.energy_grid.inv_dlog, rtol=1e-9, atol=1e-12)
    assert np.allclose(np.log(energy[0]), t.csda_range_g_cm2.log_x0)
    ranges = t.range_grid.nodes()
    assert np.allclose(np.diff(np.log(ranges)), 1 / t.energy_at_range_mev.inv_dlog, rtol=1e-9, atol=1e-12)
    assert ranges[0] == t.csda_range_g_cm2.values[0] and ranges[-1] == t.csda_range_g_cm2.values[-1]
    assert np.all(np.diff(t.csda_range_g_cm2.values) > 0) and np.all(np.diff(t.energy_at_range_mev.values) > 0)
    with pytest.raises(ValueError):
        t.csda_range_g_cm2.values[0] = 0.0  # shared through the cache: read-only


@pytest.mark.parametrize(("energy_mev", "nist_range_g_cm2"), [(70, 4.080), (100, 7.718), (150, 15.77), (200, 25.96)])
def test_csda_range_matches_nist(energy_mev, nist_range_g_cm2):
    assert water_table("pstar").range_g_cm2(energy_mev) == pytest.approx(nist_range_g_cm2, rel=2e-3)


def test_csda_range_matches_reference_column(pstar):
    e = pstar["kinetic_energy_MeV"]
    ref = pstar["csda_range_g_cm2_derived"]
    got = water_table("pstar").range_g_cm2(e)
    sel = e >= 1.0
    assert np.max(np.abs(got[sel] / ref[sel] - 1)) < 5e-4
    therapy = (e >= 70) & (e <= 230)
    assert np.max(np.abs(got[therapy] / ref[therapy] - 1)) < 2e-4


def test_stopping_power_reproduces_pstar_nodes(pstar):
    e = pstar["kinetic_energy_MeV"]
    total = np.where(np.isfinite(pstar["total_stopping_MeV_cm2_g"]), pstar["total_stopping_MeV_cm2_g"],
                     pstar["electronic_stopping_MeV_cm2_g"])
    t = water_table("pstar")
    assert np.max(np.abs(t.stopping_power(e) / total - 1)) < 2e-4
    assert np.max(np.abs(t.electronic_stopping_power(e) / pstar["electronic_stopping_MeV_cm2_g"] - 1)) < 2e-4


def test_the_default_water_is_geant4s_78_ev_water_with_its_longer_ranges(pstar):
    """Geant4's (MCsquare's G4_Stop_Pow.dat) stopping power from 1 MeV up; ranges longer than PSTAR's
    at therapy energies (0.44-0.48 %), as I = 78 eV instead of 75 eV makes them."""
    e = pstar["kinetic_energy_MeV"]
    g4 = pstar["geant4_total_stopping_MeV_cm2_g_mcsquare"]
    have = np.isfinite(g4) & (e >= 1.0)
    t, p = water_table(), water_table("pstar")
    assert np.max(np.abs(t.stopping_power(e[have]) / g4[have] - 1)) < 2e-4
    for energy_mev, longer_mm in ((100.0, 0.37), (150.0, 0.72), (200.0, 1.15)):
        assert 10 * float(t.range_g_cm2(energy_mev) - p.range_g_cm2(energy_mev)) == pytest.approx(longer_mm, abs=0.03)
    # continuous where PSTAR's shape takes over below 1 MeV
    assert float(t.stopping_power(0.999) / t.stopping_power(1.001)) == pytest.approx(
        float(p.stopping_power(0.999) / p.stopping_power(1.001)), rel=2e-3)


def test_range_is_the_integral_of_inverse_stopping_power():
    t = water_table()
    e = t.energy_grid.nodes()
    drde = np.gradient(t.csda_range_g_cm2.values, e)
    inner = slice(5, -5)
    assert np.max(np.abs(drde[inner] * t.stopping_power_mev_cm2_g.values[inner] - 1)) < 2e-3


def test_inverse_round_trip_and_vectorised():
    t = water_table("pstar")
    e = np.exp(np.random.default_rng(1).uniform(np.log(0.1), np.log(400.0), size=(50, 40)))
    r = t.range_g_cm2(e)
    assert r.shape == e.shape
    assert np.max(np.abs(t.energy_mev(r) / e - 1)) < 1e-4
    assert float(t.energy_mev(7.718)) == pytest.approx(100.0, rel=5e-4)


def test_outside_the_grid():
    t = water_table()
    assert float(t.range_g_cm2(0.0)) == 0.0 and float(t.energy_mev(0.0)) == 0.0
    low = t.range_g_cm2(np.array([0.01, 0.05, 0.1]))
    assert np.all(np.diff(low) > 0)
    assert float(t.range_g_cm2(450.0)) > float(t.range_g_cm2(400.0))
    assert float(t.stopping_power(1000.0)) == pytest.approx(float(t.stopping_power(400.0)))


def test_let_in_kev_per_um():
    # PSTAR's electronic stopping power (7.28614 and 45.6399 MeV cm2/g) scaled to Geant4's 78 eV water
    assert float(let_kev_um(100.0)) == pytest.approx(0.728614 * 7.25628 / 7.289, rel=2e-4)
    assert float(let_kev_um(10.0)) == pytest.approx(4.56399 * 45.4595 / 45.67, rel=2e-4)


def test_beta_and_p_beta():
    t = 100.0
    e_total = t + water.PROTON_MASS_MEV
    p2 = e_total**2 - water.PROTON_MASS_MEV**2
    assert float(p_beta_mev(t)) == pytest.approx(p2 / e_total, rel=1e-12)
    assert float(beta_squared(t)) == pytest.approx(p2 / e_total**2, rel=1e-12)
    assert float(p_beta_mev(100.0)) == pytest.approx(190.37, abs=0.01)


def test_bohr_variance_water_100_mev_by_hand():
    # gamma = 1 + 100/938.272088 = 1.1065789; beta^2 = 1 - 1/gamma^2 = 0.183358
    # (1 - beta^2/2)/(1 - beta^2) = 0.908321 / 0.816642 = 1.112263
    # K m_e c^2 Z/A = 0.307075 * 0.51099895 * 0.555082 = 0.0871010 MeV^2 cm2/g
    assert WATER_Z_OVER_A == pytest.approx(0.555082, rel=1e-5)
    assert float(bohr_variance_mev2_per_g_cm2(100.0, WATER_Z_OVER_A)) == pytest.approx(0.0871010 * 1.112263, rel=1e-5)
    # non-relativistic limit: Bohr's K m_e c^2 Z/A
    assert float(bohr_variance_mev2_per_g_cm2(1e-6, 0.5)) == pytest.approx(0.307075 * 0.51099895 * 0.5, rel=1e-8)


def test_highland_f_properties():
    t = np.concatenate([[0.0], np.geomspace(1e-8, 100.0, 2000)])
    f = highland_f(t)
    assert f[0] == 0.0
    assert np.all(np.diff(f) >= 0)
    assert float(highland_f(1.0)) == pytest.approx(1.0)
    t_min = 1e-4
    assert float(highland_f(t_min * (1 - 1e-9))) == pytest.approx(float(highland_f(t_min)), rel=1e-6)
    assert float(highland_f(0.5)) == pytest.approx(0.5 * (1 + 0.038 * math.log(0.5)) ** 2)


def test_highland_theta0_is_pdg_formula_for_constant_pv():
    pv = float(p_beta_mev(150.0))
    x_over_x0 = 10.0 / 36.08  # 10 g/cm2 water
    theta0 = 13.6 / pv * math.sqrt(x_over_x0) * (1 + 0.038 * math.log(x_over_x0))
    assert float(highland_theta0_sq(pv, x_over_x0)) == pytest.approx(theta0**2, rel=1e-12)
    steps = np.linspace(0.0, x_over_x0, 11)
    increments = highland_theta0_sq(pv, steps[1:]) - highland_theta0_sq(pv, steps[:-1])
    assert float(increments.sum()) == pytest.approx(theta0**2, rel=1e-12)
