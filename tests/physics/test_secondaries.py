"""ICRU 63 emission data (physics.secondaries); how the engine samples it: tests/engine/test_secondaries_sampling.py."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.physics.material_constants import WATER
from braggdesk.physics.nuclear import recoil_energy_fraction
from braggdesk.physics.secondaries import icru63_secondaries, material_emission
from braggdesk.model import Material

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
