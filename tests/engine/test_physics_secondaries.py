"""ICRU 63 emission data (physics.secondaries) and how the engine samples it."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.engine.backend import select_backend
from braggdesk.engine.media import build_media, emission_grid_mev
from braggdesk.engine.physics.materials import WATER
from braggdesk.engine.physics.nuclear import recoil_energy_fraction
from braggdesk.engine.physics.secondaries import icru63_secondaries, material_emission
from braggdesk.engine.transport import SECONDARY_MIN_MEV, Particles, TransportTables, _nonelastic
from braggdesk.engine.geometry import GridFrame
from braggdesk.model import Material

from cases import water_box, water_calibration

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
    from braggdesk.engine.physics.water import water_table
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
