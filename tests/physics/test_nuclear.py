"""Nonelastic nuclear cross sections, recoil fractions and primary survival against reference data."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from braggdesk.physics import WATER, material_physics, nuclear_table, water_table
from braggdesk.physics.elements import ELEMENTS
from braggdesk.physics.nuclear import (
    element_nonelastic_barn, icru63_cross_sections, nonelastic_macroscopic_per_cm, nonelastic_mass_cm2_g,
    recoil_energy_fraction, surviving_fraction,
)
from braggdesk.errors import InputError
from braggdesk.model import Material

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "physics"
BONE = Material("bone", 1.92, {"H": 0.034, "C": 0.155, "N": 0.042, "O": 0.435, "Na": 0.001, "Mg": 0.002,
                               "P": 0.103, "S": 0.003, "Ca": 0.225})


def _read(name: str) -> list[dict[str, str]]:
    with open(DATA / name, newline="") as fh:
        return list(csv.DictReader(fh))


def test_water_sigma_matches_derived_reference():
    rows = _read("water_nonelastic_macroscopic_derived.csv")
    e = np.array([float(r["kinetic_energy_MeV"]) for r in rows])
    ref = np.array([float(r["Sigma_water_nonelastic_per_cm"]) for r in rows])
    got = nonelastic_macroscopic_per_cm(WATER, 1.0, e)
    assert np.max(np.abs(got / ref - 1)) < 5e-3


def test_table_reads_all_elements_and_matches_csv():
    rows = _read("icru63_proton_nuclear_xs_mcsquare.csv")
    table = icru63_cross_sections()
    assert set(table) == {"C", "N", "O", "Al", "Si", "P", "Ca", "Ti", "Fe", "Cu", "Ta", "W", "Pb"}
    for r in rows[::7]:
        symbol = next(el.symbol for el in ELEMENTS.values() if el.name == r["element"])
        e = float(r["kinetic_energy_MeV"])
        assert float(element_nonelastic_barn(symbol, e)) == pytest.approx(float(r["sigma_nonelastic_barn"]), rel=1e-9)


def test_threshold_and_high_energy_hold():
    lowest_o = float(icru63_cross_sections()["O"].energy_mev[0])
    assert lowest_o == 7.0
    below = nonelastic_macroscopic_per_cm(WATER, 1.0, np.array([0.5, 3.0, 6.99]))
    assert np.all(below == 0.0)
    high = nonelastic_macroscopic_per_cm(WATER, 1.0, np.array([250.0, 300.0, 400.0]))
    assert np.all(high == high[0]) and high[0] > 0


def test_hydrogen_has_no_nonelastic_channel():
    h = Material("hydrogen", 8.4e-5, {"H": 1.0})
    assert np.all(nonelastic_mass_cm2_g(h, np.linspace(1, 250, 50)) == 0.0)
    assert np.all(recoil_energy_fraction(h, np.linspace(1, 250, 50)) == 0.0)


def test_missing_elements_borrow_nearest_z_scaled_by_a_two_thirds():
    # Na (Z=11) -> Al (Z=13), K (Z=19) -> Ca (Z=20), Cl (Z=17) -> P (Z=15), S (16) -> P (15)
    e = np.array([20.0, 100.0, 200.0])
    for symbol, ref in (("Na", "Al"), ("K", "Ca"), ("Cl", "P"), ("S", "P"), ("Mg", "Al"), ("Ar", "Ca")):
        scale = (ELEMENTS[symbol].a_g_mol / ELEMENTS[ref].a_g_mol) ** (2 / 3)
        assert np.allclose(element_nonelastic_barn(symbol, e), scale * element_nonelastic_barn(ref, e), rtol=1e-12)


def test_macroscopic_is_linear_in_density_and_mixture_rule():
    e = np.array([50.0, 150.0])
    n_a = 6.02214076e23
    by_hand = 1.92 * n_a * 1e-24 * sum(
        w / ELEMENTS[s].a_g_mol * element_nonelastic_barn(s, e) for s, w in BONE.mass_fractions.items())
    assert np.allclose(nonelastic_macroscopic_per_cm(BONE, 1.92, e), by_hand, rtol=1e-12)
    assert np.allclose(nonelastic_macroscopic_per_cm(BONE, 0.96, e), by_hand / 2, rtol=1e-12)
    assert np.allclose(material_physics(BONE).nonelastic_per_cm(e), by_hand, rtol=1e-12)


def test_recoil_fraction_single_element_and_mixture():
    rows = [r for r in _read("icru63_proton_nuclear_xs_mcsquare.csv") if r["element"] == "oxygen"]
    e = np.array([float(r["kinetic_energy_MeV"]) for r in rows])
    ref = np.array([float(r["nonelastic_energy_fraction_to_recoils"]) for r in rows])
    assert np.allclose(recoil_energy_fraction(WATER, e), ref, rtol=1e-12)
    grid = np.linspace(10, 250, 25)
    mix = recoil_energy_fraction(BONE, grid)
    parts = np.array([icru63_cross_sections()[s].recoil(grid) for s in ("C", "N", "O", "P", "Ca", "Al")])
    assert np.all(mix >= parts.min(axis=0) - 1e-12) and np.all(mix <= parts.max(axis=0) + 1e-12)


def test_unknown_element_is_an_input_error():
    with pytest.raises(InputError, match="Xe"):
        nonelastic_mass_cm2_g(Material("xenon lamp", 1.0, {"Xe": 1.0}), np.array([100.0]))


@pytest.mark.parametrize("energy_mev", [100.0, 150.0, 200.0])
def test_removed_fraction_at_end_of_range_matches_bortfeld(energy_mev):
    # Bortfeld, Med. Phys. 24 (1997) 2024: primary fluence at the end of range is 1/(1 + beta R0),
    # beta = 0.012 /cm, fitted to ICRU 49 / Janni's nuclear attenuation in water.
    r0 = float(water_table().range_g_cm2(energy_mev))
    bortfeld_removed = 0.012 * r0 / (1 + 0.012 * r0)
    removed = 1.0 - float(surviving_fraction(WATER, 1.0, energy_mev))
    assert removed == pytest.approx(bortfeld_removed, abs=0.01)


def test_surviving_fraction_shape_and_density_independence():
    e = np.array([150.0, 100.0, 50.0, 10.0, 0.0])
    p = surviving_fraction(WATER, 1.0, 150.0, e)
    assert p[0] == pytest.approx(1.0)
    assert np.all(np.diff(p) < 0)
    assert np.allclose(surviving_fraction(WATER, 0.5, 150.0, e), p, rtol=1e-9)
    # thin-slab check: between 150 and 140 MeV, -ln P = Sigma * thickness
    thickness = float(water_table().range_g_cm2(150.0) - water_table().range_g_cm2(140.0))
    sigma = float(nonelastic_macroscopic_per_cm(WATER, 1.0, 145.0))
    assert -np.log(float(surviving_fraction(WATER, 1.0, 150.0, 140.0))) == pytest.approx(sigma * thickness, rel=2e-3)


def test_nuclear_table_on_water_grid():
    table = water_table()
    materials = [WATER, BONE, Material("lung", 0.26, {"H": 0.103, "C": 0.105, "N": 0.031, "O": 0.749, "Na": 0.002,
                                                       "P": 0.002, "S": 0.003, "Cl": 0.003, "K": 0.002})]
    nt = nuclear_table(materials, table)
    assert nt.nonelastic_mass_cm2_g.values.shape == (3, table.energy_grid.n)
    assert nt.recoil_energy_fraction.values.shape == nt.nonelastic_mass_cm2_g.values.shape
    assert nt.grid == table.energy_grid  # one grid position serves the stopping power and the cross section
    assert nt.material_names == ("Water", "bone", "lung")
    assert np.allclose(nt.nonelastic_mass_cm2_g.values[1], nonelastic_mass_cm2_g(BONE, table.energy_grid.nodes()))
    e = np.array([8.0, 15.0, 23.0, 70.0, 100.0, 150.0, 249.0])
    for k, m in enumerate(materials):
        looked_up = nt.nonelastic_per_cm(np.full(e.shape, k), m.density_g_cm3, e)
        assert np.allclose(looked_up, nonelastic_macroscopic_per_cm(m, None, e), rtol=5e-3), m.name
