"""The material library, the Schneider tables and the resource index."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from braggdesk.errors import BraggdeskError, InputError
from braggdesk.physics.elements import ELEMENTS
from braggdesk.physics.library import (
    UnknownMaterialError,
    format_mass_fractions,
    get_material,
    load_material_library,
    material_by_mcsquare_label,
    mcsquare_label_of,
    parse_mass_fractions,
)
from braggdesk.physics.material_constants import material_physics
from braggdesk.physics.packaged import resource_path
from braggdesk.physics.schneider import schneider_density, schneider_materials

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def test_library_merges_mcsquare_and_ours():
    library = load_material_library()
    # 82 MCsquare materials + Solid_Water_HE (PMMA, Air and Water replace MCsquare's)
    assert len(library) == 83
    assert {"Water", "Lexan", "Schneider_Lung", "Solid_Water_HE", "PMMA", "Air", "tantalum"} <= set(library)
    for material in library.values():
        assert sum(material.mass_fractions.values()) == pytest.approx(1.0, abs=1e-9)
        assert set(material.mass_fractions) <= set(ELEMENTS)
        assert material.density_g_cm3 > 0


def test_our_materials_win_on_name_clash():
    air = get_material("Air")
    assert air.mass_fractions["Ar"] == pytest.approx(0.012827, rel=1e-5)  # MCsquare's Air has no argon
    assert air.density_g_cm3 == 0.00120479
    pmma = get_material("PMMA")
    assert pmma.mass_fractions == pytest.approx({"H": 0.080538, "C": 0.599848, "O": 0.319614})
    assert pmma.density_g_cm3 == 1.19
    assert pmma.i_value_ev == 74.0 and air.i_value_ev == 85.7  # ICRU 37/49 values, not Bragg additivity
    water = get_material("Water")
    assert water.i_value_ev == 78.0 and water.density_g_cm3 == 1.0  # ICRU 90
    for ours in (air, pmma, water, get_material("Solid_Water_HE")):
        assert ours.stopping_power_table is None  # from the composition and the I-value


def test_solid_water_he_is_renormalised():
    sw = get_material("Solid_Water_HE")
    assert sw.density_g_cm3 == 1.032
    assert sum(sw.mass_fractions.values()) == pytest.approx(1.0, abs=1e-12)
    assert sw.mass_fractions["C"] == pytest.approx(0.6730 / 1.0001)
    assert set(sw.mass_fractions) == {"H", "C", "N", "O", "Cl", "Ca"}


def test_mcsquare_percent_become_fractions():
    lexan = get_material("Lexan")
    assert lexan.density_g_cm3 == 1.2
    assert lexan.mass_fractions == pytest.approx({"H": 0.055491, "C": 0.755751, "O": 0.188758})
    assert get_material("tantalum").mass_fractions == {"Ta": 1.0}
    assert get_material("hydrogen").mass_fractions == {"H": 1.0}
    brass = get_material("Brass")
    assert brass.mass_fractions == pytest.approx({"Cu": 0.8637729, "Pb": 0.1362271})


def test_get_material_is_case_insensitive():
    assert get_material("water") is get_material("WATER") is get_material("Water")
    assert get_material("schneider_lung").name == "Schneider_Lung"
    assert get_material(" lexan ").name == "Lexan"


def test_unknown_material_lists_close_names():
    with pytest.raises(KeyError) as info:
        get_material("Lexon")
    assert isinstance(info.value, UnknownMaterialError)
    assert isinstance(info.value, BraggdeskError)
    assert "Lexan" in str(info.value)
    assert info.value.suggestions[0] == "Lexan"
    with pytest.raises(UnknownMaterialError, match="unknown material 'Unobtainium'"):
        get_material("Unobtainium")


def test_mcsquare_labels():
    assert material_by_mcsquare_label(66) is get_material("Lexan")
    assert material_by_mcsquare_label(40).name == "Schneider_Lung"
    water = material_by_mcsquare_label(17)  # a label is MCsquare's own material, not ours of that name
    assert water.name == "Water" and water.stopping_power_table == "mcsquare:Water" and water is not get_material("Water")
    assert material_by_mcsquare_label(64).stopping_power_table == "mcsquare:PMMA"
    assert get_material("Schneider_Lung").stopping_power_table == "mcsquare:Schneider_Lung"
    assert mcsquare_label_of("lexan") == 66
    assert mcsquare_label_of("Solid_Water_HE") is None
    with pytest.raises(UnknownMaterialError):
        material_by_mcsquare_label(999)


def test_parse_and_format_mass_fractions():
    assert parse_mass_fractions("H:0.5 O:0.5") == {"H": 0.5, "O": 0.5}
    assert parse_mass_fractions("H=0.25;O=0.75") == {"H": 0.25, "O": 0.75}
    renormalised = parse_mass_fractions("H:0.1 O:0.9001")
    assert sum(renormalised.values()) == pytest.approx(1.0, abs=1e-15)
    assert parse_mass_fractions("H:0.5 C:0 O:0.5") == {"H": 0.5, "O": 0.5}
    fractions = get_material("Solid_Water_HE").mass_fractions
    assert parse_mass_fractions(format_mass_fractions(fractions)) == fractions
    for bad in ("Xx:1.0", "H:abc", "H:0.5", "H 1.0", "H:0.5 H:0.5", "H:-0.1 O:1.1", ""):
        with pytest.raises(ValueError):
            parse_mass_fractions(bad)


def test_relative_electron_density():
    assert material_physics(get_material("Water")).electron_density_relative_to_water == pytest.approx(1.0, abs=1e-6)
    # MCsquare lists electron densities: Lexan 3.80811e23, water 3.34274e23 per cm3
    lexan = get_material("Lexan")
    assert material_physics(lexan).electron_density_relative_to_water == pytest.approx(3.80811 / 3.34274, rel=2e-3)
    assert material_physics(lexan, 2.4).electron_density_relative_to_water == pytest.approx(
        2 * material_physics(lexan).electron_density_relative_to_water)


def _schneider_reference() -> list[dict[str, str]]:
    with open(DATA / "physics" / "schneider_topas_hu_to_density.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_schneider_density_formula():
    for row in _schneider_reference():
        for hu_key, rho_key in (("hu_min_inclusive", "density_at_hu_min_g_cm3"),
                                ("hu_max_exclusive", "density_at_hu_max_minus_1_g_cm3")):
            hu = float(row[hu_key]) - (1 if hu_key == "hu_max_exclusive" else 0)
            assert float(schneider_density(hu)) == pytest.approx(float(row[rho_key]), abs=1e-5)
    assert float(schneider_density(-1000)) == pytest.approx(0.00121)
    assert float(schneider_density(0)) == pytest.approx(1.018)
    assert float(schneider_density(1000)) == pytest.approx(1.017 + 0.000592 * 1000)
    assert float(schneider_density(-3000)) == pytest.approx(0.00121)  # clamped below the table


def test_schneider_materials():
    sections = schneider_materials()
    assert len(sections) == 25
    assert sections[0][0] == -1000 and sections[-1][:2] == (2995, 2996)
    for (_, hi, _), (lo, _, _) in zip(sections, sections[1:]):
        assert hi == lo
    names = [m.name for _, _, m in sections]
    assert len(set(names)) == 25 and names[0] == "Schneider2000_S01_Air" and names[-1] == "Schneider2000_S25_Titanium"
    assert sections[-1][2].mass_fractions == {"Ti": 1.0}
    lung = sections[1][2]
    assert lung.mass_fractions == pytest.approx({"H": 0.103, "C": 0.105, "N": 0.031, "O": 0.749, "P": 0.002,
                                                 "S": 0.003, "Cl": 0.003, "Na": 0.002, "K": 0.002})
    for lo, hi, material in sections:
        assert material.density_g_cm3 == pytest.approx(float(schneider_density((lo + hi) / 2)), abs=1e-6)
        assert set(material.mass_fractions) <= {"H", "C", "N", "O", "Mg", "P", "S", "Cl", "Ar", "Ca", "Na", "K", "Ti"}
    # the library's MCsquare Schneider_* tissues are not shadowed
    assert get_material("Schneider_Lung").density_g_cm3 == 0.0527


def _index_rows() -> list[dict[str, str]]:
    text = resource_path("index.csv").read_text(encoding="utf-8").splitlines()
    return list(csv.DictReader(line for line in text if not line.startswith("#")))


def test_resource_index_lists_every_data_file():
    rows = _index_rows()
    listed = {row["path"] for row in rows}
    assert len(listed) == len(rows)
    for row in rows:
        assert resource_path(row["path"]).is_file(), row["path"]
        assert row["kind"] and row["description"] and row["source"] and row["license"]
    root = resource_path("")
    for folder in ("physics", "materials", "beam_models", "calibrations", "icons"):
        assert (root / folder / "README.md").is_file()
        for path in (root / folder).rglob("*"):
            if path.is_file() and path.name != "README.md" and "__pycache__" not in path.parts:
                assert path.relative_to(root).as_posix() in listed


def test_shipped_physics_tables_are_unchanged_copies():
    for name in ("pstar_water.csv", "icru63_proton_nuclear_xs_mcsquare.csv", "schneider_topas_hu_to_density.csv",
                 "schneider_topas_hu_to_composition.csv"):
        assert resource_path(f"physics/{name}").read_bytes() == (DATA / "physics" / name).read_bytes()
    assert resource_path("materials/mcsquare_materials.csv").read_bytes() == \
        (DATA / "physics" / "mcsquare_materials.csv").read_bytes()


def test_bad_library_row_names_file_and_line(tmp_path, monkeypatch):
    from braggdesk.physics import library as ml

    bad = tmp_path / "materials"
    bad.mkdir()
    (bad / "braggdesk_materials.csv").write_text("name,density_g_cm3,i_value_ev,composition\nFoo,abc,,H:1\n")
    monkeypatch.setattr(ml, "resource_path", lambda rel: tmp_path / rel)
    with pytest.raises(InputError, match=r"braggdesk_materials.csv: line 2"):
        ml._read_braggdesk_materials()
