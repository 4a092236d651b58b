"""ICRU 63 emission data (physics.secondaries) and how the engine samples it."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.engine.kernel.interactions import SECONDARY_MIN_MEV
from braggdesk.engine.kernel.layout import P_E, P_MASS, P_V
from braggdesk.engine.media import build_media, emission_grid_mev
from braggdesk.engine.physics.materials import WATER
from braggdesk.engine.physics.nuclear import recoil_energy_fraction
from braggdesk.engine.physics.secondaries import icru63_secondaries, material_emission
from braggdesk.model import Material

from cases import pencil_job, water_box, water_calibration
from kernel_harness import kernel_inputs, nonelastic_events, track_particles

PMMA = Material("PMMA", 1.19, {"H": 0.080538, "C": 0.599848, "O": 0.319614})


def test_table_has_the_icru63_oxygen_values_at_150_mev():
    o = icru63_secondaries()["O"]
    # MCsquare Materials/oxygen/ICRU_Nuclear_inelastic.dat, "Energy 150": multiplicities as given
    assert float(o.multiplicity(150.0)) == pytest.approx(1.987, abs=1e-3)
    i = int(np.nonzero(o.energy_mev == 150.0)[0][0])
    assert o.deuteron_multiplicity[i] == pytest.approx(0.3688, abs=1e-4)
    assert o.alpha_multiplicity[i] == pytest.approx(0.8695, abs=1e-4)
    q = o.quantile_fractions(150.0)[0]
    assert q[0] == 0 and q[-1] == pytest.approx(1.0) and np.all(np.diff(q) >= 0)
    mean_mev = 150.0 * float(np.mean(0.5 * (q[1:] + q[:-1])))
    assert 30 < mean_mev < 42  # ICRU 63: secondary protons from 150 MeV p + O average ~36 MeV


def test_every_element_is_tabulated_with_a_physical_energy_budget():
    data = icru63_secondaries()
    assert set(data) == {"C", "N", "O", "Al", "Si", "P", "Ca", "Ti", "Fe", "Cu", "Ta", "W", "Pb"}
    for el in data.values():
        e = el.energy_mev
        charged = el.alpha_energy_fraction(e)
        for particle in ("proton", "deuteron"):
            q = el.quantile_fractions(e, particle)
            charged = charged + el.multiplicity(e, particle) * np.mean(0.5 * (q[:, 1:] + q[:, :-1]), axis=1)
            assert np.all(q[:, -1] <= 1.0 + 1e-6), el.symbol  # nothing above the incident energy
        assert np.all(charged < 1.0), el.symbol  # neutrons, gammas and binding take the rest


def test_water_emits_what_oxygen_emits_and_pmma_lies_between_carbon_and_oxygen():
    grid = np.array([50.0, 100.0, 150.0, 200.0])
    water = material_emission(WATER, grid, recoil_energy_fraction(WATER, grid))
    o, c = icru63_secondaries()["O"], icru63_secondaries()["C"]
    np.testing.assert_allclose(water.proton_multiplicity, o.multiplicity(grid), rtol=1e-9)
    np.testing.assert_allclose(water.proton_quantile_fraction, o.quantile_fractions(grid), rtol=1e-9)
    pmma = material_emission(PMMA, grid, recoil_energy_fraction(PMMA, grid))
    lo = np.minimum(c.multiplicity(grid), o.multiplicity(grid))
    hi = np.maximum(c.multiplicity(grid), o.multiplicity(grid))
    assert np.all((pmma.proton_multiplicity >= lo - 1e-9) & (pmma.proton_multiplicity <= hi + 1e-9))
    med = pmma.proton_quantile_fraction[:, 10]
    med_lo = np.minimum(c.quantile_fractions(grid)[:, 10], o.quantile_fractions(grid)[:, 10])
    med_hi = np.maximum(c.quantile_fractions(grid)[:, 10], o.quantile_fractions(grid)[:, 10])
    assert np.all((med >= med_lo - 1e-9) & (med <= med_hi + 1e-9))


def test_hydrogen_alone_emits_nothing():
    h = Material("Hydrogen", 0.0899e-3, {"H": 1.0})
    em = material_emission(h, np.array([100.0]), np.zeros(1))
    assert em.proton_multiplicity[0] == 0 and em.local_energy_fraction[0] == 0


def test_engine_samples_the_multiplicity_spectrum_and_local_energy_of_water():
    """20 000 nonelastic events at 150 MeV in water through the kernel's own sampling."""
    inputs = kernel_inputs(pencil_job(150.0, primaries=1, ct=water_box(size_mm=(20.0, 20.0, 20.0))))
    n, e0 = 20_000, 150.0
    child, local, counts = nonelastic_events(inputs, n, e0)
    mass, e, v = child[:, P_MASS], child[:, P_E], child[:, P_V]
    o = icru63_secondaries()["O"]
    f_local = float(recoil_energy_fraction(WATER, e0) + o.alpha_energy_fraction(e0))
    slow = local.sum() - n * e0 * f_local  # secondaries under the transport cut, deposited on the spot
    kinetic = e * mass  # deuterons carry their proton-equivalent energy T / 2
    expected_energy = 0.0
    for particle, m_particle in (("proton", 1), ("deuteron", 2)):
        q = o.quantile_fractions(e0, particle)[0]
        m = float(o.multiplicity(e0, particle))
        expected_energy += m * float(np.mean(0.5 * (q[1:] + q[:-1]))) * e0
        # number above the transport cut: M times the spectrum's share above it
        above = 1 - float(np.interp(SECONDARY_MIN_MEV / e0, q, np.linspace(0, 1, q.size)))
        assert np.sum(mass == m_particle) / n == pytest.approx(m * above, rel=0.04), particle
    # energy in secondaries: the multiplicities times the spectra's means
    assert (kinetic.sum() + slow) / n == pytest.approx(expected_energy, rel=0.03)
    assert np.all(kinetic >= SECONDARY_MIN_MEV) and np.all(kinetic <= e0)
    from braggdesk.engine.kernel.layout import C_NONELASTIC_PRIMARY, C_SECONDARY_DEUTERONS, C_SECONDARY_PROTONS
    assert counts[C_NONELASTIC_PRIMARY] == n
    assert counts[C_SECONDARY_PROTONS] + counts[C_SECONDARY_DEUTERONS] == len(child)
    # fast protons go forward, slow ones wide (quasi-free kinematics)
    protons = mass == 1
    assert np.mean(v[protons & (e > 100)]) > 0.9 and np.mean(v[protons & (e < 10)]) < 0.4


def test_emission_grid_matches_the_media_tables():
    media = build_media(water_box(size_mm=(20.0, 20.0, 20.0)), water_calibration())
    assert media.proton_multiplicity.shape == (1, emission_grid_mev().size)
    assert media.proton_quantile_fraction.shape[:2] == (1, emission_grid_mev().size)


def test_a_deuteron_deposits_all_its_energy_over_twice_the_proton_range_at_half_the_energy():
    """Deuterons ride on the proton tables at equal velocity: range R_d(T) = 2 R_p(T / 2)."""
    from braggdesk.engine.physics.water import water_table

    ct = water_box(size_mm=(20.0, 40.0, 20.0), spacing_mm=(20.0, 0.5, 20.0))
    job = pencil_job(100.0, primaries=1, ct=ct, nuclear=False)
    inputs = kernel_inputs(job)
    n, t_mev = 2000, 40.0
    particles = np.zeros((n, 8))
    particles[:] = (10.0, 0.01, 10.0, 0.0, 1.0, 0.0, t_mev / 2, 2.0)
    depth_dose = track_particles(inputs, particles)
    assert depth_dose.sum() == pytest.approx(n * t_mev, rel=1e-4)  # every MeV deposited, none twice
    depth = (np.arange(depth_dose.size) + 0.5) * 0.5
    mean_depth = float(np.sum(depth_dose * depth) / depth_dose.sum())
    csda_mm = 2 * 10 * float(water_table().range_g_cm2(t_mev / 2))
    # Bragg-Kleeman (R ~ E^1.77): dE/dx ~ (R - x)^(1/1.77 - 1), whose mean depth is 0.639 R
    assert 0.62 * csda_mm < mean_depth < 0.66 * csda_mm, (mean_depth, csda_mm)
    assert depth[np.nonzero(depth_dose)[0].max()] < 1.1 * csda_mm
