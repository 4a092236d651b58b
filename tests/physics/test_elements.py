"""The one element table: what io/ accepts, the engine can transport; atomic weights and I-values checked."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from braggdesk.errors import InputError
from braggdesk.model import Material
from braggdesk.physics.elements import ELEMENTS, element, element_by_z, normalise_mass_fractions, z_over_a
from braggdesk.physics.library import parse_mass_fractions
from braggdesk.physics.material_constants import material_physics
from braggdesk.physics.nuclear import nonelastic_mass_cm2_g, recoil_energy_fraction
from braggdesk.physics.secondaries import material_emission
from braggdesk.physics.stopping import WATER_Z_OVER_A

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "physics"


def test_table_holds_the_44_elements_of_tissues_phantoms_nozzles_and_contrast():
    assert len(ELEMENTS) == 44
    assert {"H", "B", "C", "N", "O", "F", "I", "Ba", "Gd", "Ti", "W", "Pb", "Au", "Bi"} <= set(ELEMENTS)
    zs = [e.z for e in ELEMENTS.values()]
    assert zs == sorted(zs) and len(set(zs)) == len(zs)
    assert element_by_z(53).symbol == "I" and element("Ca").name == "calcium"


def test_iupac_atomic_weights_and_water():
    # IUPAC 2005 standard atomic weights
    expected = {"H": 1.00794, "C": 12.0107, "N": 14.0067, "O": 15.9994, "B": 10.811, "F": 18.9984032,
                "I": 126.90447, "Ca": 40.078, "Pb": 207.2}
    assert {s: ELEMENTS[s].a_g_mol for s in expected} == expected
    assert WATER_Z_OVER_A == pytest.approx(0.55508, abs=1e-5)


def test_elemental_i_values_are_icru37_nist():
    expected = {"H": 19.2, "C": 78.0, "N": 82.0, "O": 95.0, "Al": 166.0, "Ca": 191.0, "Ti": 233.0, "Fe": 286.0,
                "Cu": 322.0, "I": 491.0, "W": 727.0, "Pb": 823.0}
    assert {s: ELEMENTS[s].i_value_ev for s in expected} == expected


def test_electron_densities_of_mcsquare_elements_from_our_atomic_weights():
    """MCsquare's Material_Properties electron densities (its own atomic weights) against ours."""
    with open(SHARED / "mcsquare_materials.csv", newline="") as fh:
        rows = {r["name"]: r for r in csv.DictReader(fh)}
    by_name = {e.name: e for e in ELEMENTS.values()}
    for name in ("hydrogen", "carbon", "nitrogen", "oxygen", "aluminium", "silicon", "calcium", "iron", "copper",
                 "tungsten", "lead", "titanium", "tantalum"):
        el, row = by_name[name], rows[name]
        ours = float(row["density_g_cm3"]) * 6.02214076e23 * el.z_over_a
        assert ours == pytest.approx(float(row["electron_density_per_cm3"]), rel=2e-3), name


@pytest.mark.parametrize("symbol", ["I", "F", "B", "Gd", "Ba"])
def test_an_element_io_accepts_the_engine_can_use(symbol):
    """Iodine contrast, fluorinated plastics, boron: read by io/, transported by the engine (borrowed nuclear data)."""
    fractions = parse_mass_fractions(f"H:0.1 O:0.8 {symbol}:0.1")
    material = Material(f"water with {symbol}", 1.1, fractions)
    phys = material_physics(material)
    assert 0.8 < phys.relative_stopping_power < 1.2 and phys.radiation_length_g_cm2 > 0
    assert float(nonelastic_mass_cm2_g(material, 150.0)) > 0
    grid = np.array([50.0, 150.0])
    emission = material_emission(material, grid, recoil_energy_fraction(material, grid))
    assert emission.proton_multiplicity[-1] > 0


def test_one_normaliser():
    assert normalise_mass_fractions({"H": 0.11, "O": 0.9, "C": 0.0}) == pytest.approx({"H": 0.11 / 1.01, "O": 0.9 / 1.01})
    exact = {"H": 0.5, "O": 0.5}
    assert normalise_mass_fractions(exact) == exact  # idempotent: a sum within 1e-12 of 1 is kept as is
    for bad, problem in (({"H": 0.5}, "sum to 0.5"), ({"Xe": 1.0}, "'Xe'"), ({"H": -0.1, "O": 1.1}, ">= 0"),
                         ({"H": float("nan"), "O": 1.0}, "finite")):
        with pytest.raises(InputError, match=problem):
            normalise_mass_fractions(bad, "m")
    assert z_over_a({"H": 1.0}) == pytest.approx(1 / 1.00794)
