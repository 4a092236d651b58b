"""How the engine samples the ICRU 63 emission data of physics.secondaries (moved from the physics tests)."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.engine.kernel.interactions import SECONDARY_MIN_MEV
from braggdesk.engine.kernel.layout import P_E, P_MASS, P_V
from braggdesk.engine.media import build_media, emission_grid_mev
from braggdesk.physics.material_constants import WATER
from braggdesk.physics.nuclear import recoil_energy_fraction
from braggdesk.physics.secondaries import icru63_secondaries

from cases import pencil_job, water_box, water_calibration
from kernel_harness import kernel_inputs, nonelastic_events, track_particles


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
    from braggdesk.physics.water import water_table

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
