"""How the engine samples the ICRU 63 emission data of physics.secondaries (moved from the physics tests)."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.engine.backend import select_backend
from braggdesk.engine.geometry import GridFrame
from braggdesk.engine.media import build_media, emission_grid_mev
from braggdesk.engine.transport import SECONDARY_MIN_MEV, Particles, TransportTables, _nonelastic
from braggdesk.physics.materials import WATER
from braggdesk.physics.nuclear import recoil_energy_fraction
from braggdesk.physics.secondaries import icru63_secondaries

from cases import water_box, water_calibration


def test_engine_samples_the_multiplicity_spectrum_and_local_energy_of_water():
    """20 000 nonelastic events at 150 MeV in water through the engine's own sampling."""
    xp = select_backend("cpu").xp
    ct = water_box(size_mm=(20.0, 20.0, 20.0))
    media = build_media(ct, water_calibration())
    tables = TransportTables.build(xp, media, GridFrame.of(ct))
    n, e0 = 20_000, 150.0
    f32 = np.float32
    p = Particles(x=np.full(n, 10, f32), y=np.full(n, 10, f32), z=np.full(n, 10, f32), u=np.zeros(n, f32),
                  v=np.ones(n, f32), w=np.zeros(n, f32), e=np.full(n, e0, f32), t_x0=np.zeros(n, f32),
                  mfp=np.ones(n, f32), pend_vox=np.full(n, -1, np.int32), pend_q=np.zeros(n), primary=np.ones(n, bool),
                  mass=np.ones(n, f32))
    counters = {"nonelastic_primary": 0, "nonelastic_secondary": 0, "secondary_protons": 0, "secondary_deuterons": 0}
    vox = np.zeros(n, np.int64)
    local, child = _nonelastic(tables, np.random.default_rng(5), p, np.arange(n), vox, p.e.copy(), counters)
    o = icru63_secondaries()["O"]
    f_local = float(recoil_energy_fraction(WATER, e0) + o.alpha_energy_fraction(e0))
    slow = local.sum() - n * e0 * f_local  # secondaries under the transport cut, deposited on the spot
    kinetic = child.e * child.mass  # deuterons carry their proton-equivalent energy T / 2
    expected_energy = 0.0
    for particle, mass in (("proton", 1), ("deuteron", 2)):
        q = o.quantile_fractions(e0, particle)[0]
        m = float(o.multiplicity(e0, particle))
        expected_energy += m * float(np.mean(0.5 * (q[1:] + q[:-1]))) * e0
        # number above the transport cut: M times the spectrum's share above it
        above = 1 - float(np.interp(SECONDARY_MIN_MEV / e0, q, np.linspace(0, 1, q.size)))
        assert np.sum(child.mass == mass) / n == pytest.approx(m * above, rel=0.04), particle
    # energy in secondaries: the multiplicities times the spectra's means
    assert (kinetic.sum() + slow) / n == pytest.approx(expected_energy, rel=0.03)
    assert np.all(kinetic >= SECONDARY_MIN_MEV) and np.all(kinetic <= e0)
    assert counters["nonelastic_primary"] == n
    assert counters["secondary_protons"] + counters["secondary_deuterons"] == child.n
    # fast protons go forward, slow ones wide (quasi-free kinematics)
    protons = child.mass == 1
    assert np.mean(child.v[protons & (child.e > 100)]) > 0.9 and np.mean(child.v[protons & (child.e < 10)]) < 0.4


def test_emission_grid_matches_the_media_tables():
    media = build_media(water_box(size_mm=(20.0, 20.0, 20.0)), water_calibration())
    assert media.proton_multiplicity.shape == (1, emission_grid_mev().size)
    assert media.proton_quantile_fraction.shape[:2] == (1, emission_grid_mev().size)


def test_a_deuteron_deposits_all_its_energy_over_twice_the_proton_range_at_half_the_energy():
    """Deuterons ride on the proton tables at equal velocity: range R_d(T) = 2 R_p(T / 2)."""
    from braggdesk.physics.water import water_table
    from braggdesk.engine.transport import Tally, _step

    xp = select_backend("cpu").xp
    ct = water_box(size_mm=(20.0, 40.0, 20.0), spacing_mm=(20.0, 0.5, 20.0))
    tables = TransportTables.build(xp, build_media(ct, water_calibration()), GridFrame.of(ct), nuclear=False)
    n, t_mev = 2000, 40.0
    f32 = np.float32
    p = Particles(x=np.full(n, 10, f32), y=np.full(n, 0.01, f32), z=np.full(n, 10, f32), u=np.zeros(n, f32),
                  v=np.ones(n, f32), w=np.zeros(n, f32), e=np.full(n, t_mev / 2, f32), t_x0=np.zeros(n, f32),
                  mfp=np.ones(n, f32), pend_vox=np.full(n, -1, np.int32), pend_q=np.zeros(n), primary=np.ones(n, bool),
                  mass=np.full(n, 2, f32))
    tally = Tally(xp, tables.n_voxels)
    rng = np.random.default_rng(1)
    while p.n:
        _step(tables, tally, rng, p, {"steps": 0}, 20.0, 0.5, 20.0, 1, 80, 1)
    tally.flush()
    from braggdesk.model.snapshot import ENERGY_QUANTUM_MEV
    depth_dose = tally.energy.astype(float) * ENERGY_QUANTUM_MEV
    assert depth_dose.sum() == pytest.approx(n * t_mev, rel=1e-4)  # every MeV deposited, none twice
    depth = (np.arange(depth_dose.size) + 0.5) * 0.5
    mean_depth = float(np.sum(depth_dose * depth) / depth_dose.sum())
    csda_mm = 2 * 10 * float(water_table().range_g_cm2(t_mev / 2))
    # Bragg-Kleeman (R ~ E^1.77): dE/dx ~ (R - x)^(1/1.77 - 1), whose mean depth is 0.639 R
    assert 0.62 * csda_mm < mean_depth < 0.66 * csda_mm, (mean_depth, csda_mm)
    assert depth[np.nonzero(depth_dose)[0].max()] < 1.1 * csda_mm
