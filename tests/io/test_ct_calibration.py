"""CT calibrations: built-ins, MCsquare scanner folders, braggdesk CSV, and bad files."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from braggdesk.errors import InputError
from braggdesk.io.ct_calibration import (
    available_calibrations,
    find_calibration_in_folder,
    read_ct_calibration,
    schneider_calibration,
    water_calibration,
    write_calibration_csv,
)
from braggdesk.physics.library import get_material
from braggdesk.physics.packaged import resource_path
from braggdesk.model.material import CtCalibration, Material

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def assert_same_calibration(a: CtCalibration, b: CtCalibration) -> None:
    assert a.name == b.name
    assert a.notes == b.notes
    np.testing.assert_array_equal(a.density_hu, b.density_hu)
    np.testing.assert_array_equal(a.density_g_cm3, b.density_g_cm3)
    np.testing.assert_array_equal(a.material_hu_min, b.material_hu_min)
    assert a.materials == b.materials


def _csv(name: str) -> list[dict[str, str]]:
    with open(DATA / "physics" / name, newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------------------- Schneider


def test_schneider_density_equals_topas_formula_at_every_integer_hu():
    calibration = schneider_calibration()
    sections = _csv("schneider_topas_hu_to_density.csv")
    hu = np.arange(-1000, 2996)
    expected = np.empty(hu.shape)
    for s in sections:
        lo, hi = float(s["hu_min_inclusive"]), float(s["hu_max_exclusive"])
        inside = (hu >= lo) & (hu < hi)
        expected[inside] = float(s["density_offset_g_cm3"]) + float(s["density_factor"]) * (
            float(s["density_factor_offset_hu"]) + hu[inside])
    np.testing.assert_allclose(calibration.density(hu), expected, rtol=1e-12, atol=1e-12)


def test_schneider_sample_values():
    calibration = schneider_calibration()
    assert calibration.density(-1000) == pytest.approx(0.00121)
    assert calibration.density(0) == pytest.approx(1.018)
    assert calibration.density(1000) == pytest.approx(1.017 + 0.000592 * 1000)  # 1.609
    assert calibration.density(2500) == pytest.approx(2.201 + 0.0005 * 500)
    assert calibration.density(-2000) == pytest.approx(0.00121)  # constant beyond the table
    assert calibration.density(5000) == pytest.approx(4.54)
    # TOPAS's DensityCorrection (0.945-9.35) is not applied: at 2000 HU it would change the value
    assert calibration.density(2000) == pytest.approx(1.017 + 0.000592 * 2000)


def test_schneider_materials_by_hu():
    calibration = schneider_calibration()
    names = [m.name for m in calibration.materials]
    assert len(names) == 25

    def material_at(hu: float) -> Material:
        return calibration.materials[int(calibration.material_index(np.array([hu]))[0])]

    soft = material_at(0)  # section 6, -23..7 HU: soft tissue (adipose/adrenal/intestine mixture 4)
    assert soft.mass_fractions == pytest.approx({"H": 0.108, "C": 0.356, "N": 0.022, "O": 0.509, "P": 0.001,
                                                 "S": 0.002, "Cl": 0.002})
    assert material_at(50).name == "Schneider2000_S08_SoftTissue"
    assert material_at(-1000).name == material_at(-1500).name == "Schneider2000_S01_Air"
    assert material_at(-500).name == "Schneider2000_S02_Lung"
    assert material_at(1000).name == "Schneider2000_S19_MarrowBone10"
    assert material_at(3000).mass_fractions == {"Ti": 1.0}


def test_builtin_names():
    assert read_ct_calibration().name == "schneider"
    assert read_ct_calibration("Schneider").name == "schneider"
    assert read_ct_calibration("WATER").name == "water"
    assert {"schneider", "water", "mcsquare_ucl_toshiba"} <= set(available_calibrations())


def test_water_calibration_maps_everything_to_water():
    for calibration in (water_calibration(), read_ct_calibration("water"),
                        read_ct_calibration(resource_path("calibrations/water.csv"))):
        hu = np.array([-1000.0, -1024.0, 0.0, 3000.0])
        np.testing.assert_array_equal(calibration.density(hu), 1.0)
        assert {calibration.materials[i].name for i in calibration.material_index(hu)} == {"Water"}
        assert calibration.materials[0] == get_material("Water")


def test_shipped_csv_files_equal_the_builtins():
    assert_same_calibration(read_ct_calibration(resource_path("calibrations/schneider.csv")), schneider_calibration())
    assert_same_calibration(read_ct_calibration(resource_path("calibrations/water.csv")), water_calibration())


# --------------------------------------------------------------------------------------- MCsquare


def _write_ucl_toshiba(folder: Path, material_line: str = "{hu}\t{label}\t# {name}") -> Path:
    """MCsquare's Scanners/UCL_Toshiba in its own text format, from the shared CSV copy."""
    folder.mkdir(parents=True, exist_ok=True)
    density = ["# ===================", "# HU\tdensity g/cm3", "# ===================", ""]
    density += [f"{r['hu']} {r['density_g_cm3']}" for r in _csv("mcsquare_ucl_toshiba_hu_to_density.csv")]
    (folder / "HU_Density_Conversion.txt").write_text("\n".join(density) + "\n")
    material = ["# ===================", "# HU\tMaterial label", "# ===================", ""]
    material += [material_line.format(hu=r["hu_min_inclusive"], label=r["mcsquare_label"], name=r["material_name"])
                 for r in _csv("mcsquare_ucl_toshiba_hu_to_material.csv")]
    (folder / "HU_Material_Conversion.txt").write_text("\n".join(material) + "\n")
    return folder


def _check_ucl_toshiba(calibration: CtCalibration) -> None:
    density = _csv("mcsquare_ucl_toshiba_hu_to_density.csv")
    material = _csv("mcsquare_ucl_toshiba_hu_to_material.csv")
    np.testing.assert_array_equal(calibration.density_hu, [float(r["hu"]) for r in density])
    np.testing.assert_array_equal(calibration.density_g_cm3, [float(r["density_g_cm3"]) for r in density])
    np.testing.assert_array_equal(calibration.material_hu_min, [float(r["hu_min_inclusive"]) for r in material])
    assert [m.name for m in calibration.materials] == [r["material_name"] for r in material]
    assert calibration.density(-700) == pytest.approx(0.28 + (0.4 - 0.28) * 39 / 111)


@pytest.mark.parametrize("line", ["{hu}\t{label}\t# {name}", "{hu} {label}", "{hu} {name}", "{hu} {label} {name}  # x"])
def test_mcsquare_scanner_folder(tmp_path, line):
    folder = _write_ucl_toshiba(tmp_path / "UCL_Toshiba", line)
    calibration = read_ct_calibration(folder)
    _check_ucl_toshiba(calibration)
    assert calibration.name == "UCL_Toshiba"
    assert calibration.source_path == str(folder)


def test_mcsquare_files_and_shipped_copy(tmp_path):
    folder = _write_ucl_toshiba(tmp_path / "scanner")
    _check_ucl_toshiba(read_ct_calibration(folder / "HU_Material_Conversion.txt"))
    _check_ucl_toshiba(read_ct_calibration(str(folder / "HU_Density_Conversion.txt")))
    shipped = read_ct_calibration("mcsquare_ucl_toshiba")  # resources/calibrations/mcsquare_ucl_toshiba/
    _check_ucl_toshiba(shipped)
    assert shipped.name == "mcsquare_ucl_toshiba"


def test_mcsquare_custom_label_falls_back_to_comment_name(tmp_path):
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "HU_Density_Conversion.txt").write_text("-1000 0.0012\n0 1.032\n")
    (folder / "HU_Material_Conversion.txt").write_text("-1000 13 # Air\n-500 99 # Solid_Water_HE\n")
    calibration = read_ct_calibration(folder)
    assert [m.name for m in calibration.materials] == ["Air", "Solid_Water_HE"]


def test_mcsquare_label_wins_over_a_stale_comment(tmp_path):
    folder = tmp_path / "stale"
    folder.mkdir()
    (folder / "HU_Density_Conversion.txt").write_text("-1000 0.0012\n0 1.0\n")
    (folder / "HU_Material_Conversion.txt").write_text("-1000 17 # Air\n")
    assert read_ct_calibration(folder).materials[0].name == "Water"


@pytest.mark.parametrize("density, material, problem", [
    ("-1000 0.001\n0 1.0\n", "-1000 39\n-950 999\n", r"HU_Material_Conversion.txt: line 2: MCsquare material label 999"),
    ("-1000 0.001\n0 1.0\n", "-1000 39\n-950 Unobtainium\n", r"HU_Material_Conversion.txt: line 2: unknown material"),
    ("-1000 0.001\n0 1.0\n", "-1000 39\n-1000 40\n", r"HU_Material_Conversion.txt: line 2: .*does not increase"),
    ("# c\n0 1.0\n-1000 0.001\n", "-1000 39\n", r"HU_Density_Conversion.txt: line 3: .*does not increase"),
    ("-1000 abc\n", "-1000 39\n", r"HU_Density_Conversion.txt: line 1: density 'abc' is not a number"),
    ("-1000\n", "-1000 39\n", r"HU_Density_Conversion.txt: line 1: found '-1000'"),
    ("# only comments\n", "-1000 39\n", r"HU_Density_Conversion.txt: no 'HU density' lines"),
])
def test_bad_mcsquare_files(tmp_path, density, material, problem):
    (tmp_path / "HU_Density_Conversion.txt").write_text(density)
    (tmp_path / "HU_Material_Conversion.txt").write_text(material)
    with pytest.raises(InputError, match=problem):
        read_ct_calibration(tmp_path)


# --------------------------------------------------------------------------------------- braggdesk CSV


def _custom_calibration() -> CtCalibration:
    custom = Material("Solid_Water_HE_batch7", 1.0451, {"H": 0.081, "C": 0.672, "N": 0.024, "O": 0.199,
                                                        "Cl": 0.001, "Ca": 0.023}, i_value_ev=73.5)
    return CtCalibration(
        name="DCPT slab phantom, 2024",
        density_hu=np.array([-1000.0, -500.0, 0.0, 45.5]),
        density_g_cm3=np.array([0.00120479, 0.5, 1.032, 1.0451]),
        material_hu_min=np.array([-1024.0, -500.0, 30.0]),
        materials=[get_material("Air"), get_material("Solid_Water_HE"), custom],
        notes=["made for a test", "commas, \"quotes\" and # survive"],
    )


@pytest.mark.parametrize("make", [_custom_calibration, schneider_calibration, water_calibration])
def test_csv_round_trip(tmp_path, make):
    calibration = make()
    written = write_calibration_csv(calibration, tmp_path / "calibration.csv")
    assert written == tmp_path / "calibration.csv"
    back = read_ct_calibration(written)
    assert_same_calibration(back, calibration)
    assert back.source_path == str(written)


def test_csv_in_folder_and_find(tmp_path):
    assert find_calibration_in_folder(tmp_path) is None
    _write_ucl_toshiba(tmp_path)
    assert find_calibration_in_folder(tmp_path).name == tmp_path.name  # the MCsquare pair
    write_calibration_csv(_custom_calibration(), tmp_path / "ct_calibration.csv")
    found = find_calibration_in_folder(tmp_path)  # ct_calibration.csv wins
    assert_same_calibration(found, _custom_calibration())
    assert_same_calibration(read_ct_calibration(tmp_path), _custom_calibration())


def test_hand_written_csv_with_library_names(tmp_path):
    path = tmp_path / "slab.csv"
    path.write_text(
        "# a slab phantom\n"
        "[density]\n"
        "hu,density_g_cm3\n"
        "-1000,0.0012\n"
        "1000,2.0\n"
        "\n"
        "[materials]\n"
        "hu_min,material,density_g_cm3\n"
        "-1000,air\n"
        "-500,solid_water_he,1.040\n"
        "500,PMMA,\n"
    )
    calibration = read_ct_calibration(path)
    assert calibration.name == "slab"
    assert [m.name for m in calibration.materials] == ["Air", "Solid_Water_HE", "PMMA"]
    assert calibration.materials[1].density_g_cm3 == 1.040
    assert calibration.materials[1].mass_fractions == get_material("Solid_Water_HE").mass_fractions
    assert calibration.materials[2] == get_material("PMMA")
    assert calibration.density(0) == pytest.approx(0.0012 + (2.0 - 0.0012) / 2)


def _bad_csv(tmp_path: Path, materials: str = "-1000,Water\n", density: str = "-1000,1.0\n0,1.0\n") -> Path:
    path = tmp_path / "bad_calibration.csv"
    path.write_text(f"[density]\nhu,density_g_cm3\n{density}[materials]\nhu_min,material,mass_fractions\n{materials}")
    return path


@pytest.mark.parametrize("materials, density, problem", [
    ("-1000,Watr\n", "-1000,1.0\n", r"line 6: unknown material 'Watr'; close names: Water"),
    ("-1000,Water\n-1000,Air\n", "-1000,1.0\n", r"line 7: \[materials\] HU -1000 does not increase"),
    ("-1000,Water\n", "0,1.0\n-5,1.0\n", r"line 4: \[density\] HU -5 does not increase"),
    ("-1000,Water\n", "0,one\n", r"line 3: density 'one' is not a number"),
    ("low,Water\n", "0,1.0\n", r"line 6: hu_min 'low' is not a number"),
    ("-1000,Mine,H:0.5 O:0.5\n", "0,1.0\n", r"line 6: material Mine is defined inline but has no density"),
    ("-1000,Mine,H:0.5 Q:0.5\n", "0,1.0\n", r"line 6: material Mine: 'Q' in composition is not an element"),
])
def test_bad_csv_names_file_and_line(tmp_path, materials, density, problem):
    path = _bad_csv(tmp_path, materials, density)
    with pytest.raises(InputError, match=problem) as info:
        read_ct_calibration(path)
    assert str(info.value).startswith(str(path))


def test_bad_csv_structure(tmp_path):
    path = tmp_path / "nosections.csv"
    path.write_text("hu,density_g_cm3\n0,1\n")
    with pytest.raises(InputError, match="nosections.csv: line 1: found 'hu,density_g_cm3' before any section"):
        read_ct_calibration(path)
    path.write_text("[density]\nhu,density_g_cm3\n0,1\n")
    with pytest.raises(InputError, match=r"nosections.csv: no \[materials\] section"):
        read_ct_calibration(path)
    path.write_text("[density]\nhu,rho\n0,1\n[materials]\nhu_min,material\n0,Water\n")
    with pytest.raises(InputError, match=r"line 2: \[density\] header lacks column\(s\) density_g_cm3"):
        read_ct_calibration(path)


def test_unreadable_inputs(tmp_path):
    with pytest.raises(InputError, match="no_such_file.csv: no such file or folder"):
        read_ct_calibration(tmp_path / "no_such_file.csv")
    with pytest.raises(InputError, match="nothing_here: the folder holds neither ct_calibration.csv"):
        (tmp_path / "nothing_here").mkdir()
        read_ct_calibration(tmp_path / "nothing_here")
    binary = tmp_path / "image.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x01")
    with pytest.raises(InputError, match="image.csv: not a text file"):
        read_ct_calibration(binary)
    with pytest.raises(InputError, match=str(tmp_path / "missing_dir")):
        write_calibration_csv(water_calibration(), tmp_path / "missing_dir" / "x.csv")


def test_line_breaks_in_notes_become_spaces(tmp_path):
    calibration = water_calibration()
    calibration.notes = ["first line\nsecond line"]
    back = read_ct_calibration(write_calibration_csv(calibration, tmp_path / "w.csv"))
    assert back.notes == ["first line second line"]
    assert back.materials == calibration.materials


# --------------------------------------------------------------------------------------- MCsquare's own materials


def test_scanner_materials_are_mcsquares_own(tmp_path):
    """A scanner's labels and names mean MCsquare's materials, with MCsquare's stopping powers (even PMMA, Water)."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "HU_Density_Conversion.txt").write_text("-1000 0.0012\n0 1.0\n1000 1.19\n")
    (folder / "HU_Material_Conversion.txt").write_text("-1000 13\n-500 17\n500 PMMA\n800 64 Solid_Water_HE\n")
    materials = read_ct_calibration(folder).materials
    assert [m.stopping_power_table for m in materials] == ["mcsquare:Air", "mcsquare:Water", "mcsquare:PMMA", None]
    assert materials[2] != get_material("PMMA")  # ours (I = 74 eV) is not MCsquare's PMMA
    assert materials[3] == get_material("Solid_Water_HE")  # a name MCsquare lacks: the library's


def test_csv_keeps_the_stopping_power_table(tmp_path):
    scanner = read_ct_calibration("mcsquare_ucl_toshiba")
    again = read_ct_calibration(write_calibration_csv(scanner, tmp_path / "toshiba.csv"))
    assert again.materials == scanner.materials
    assert again.materials[5].stopping_power_table == "mcsquare:Schneider_AT_AG_SI4"
    path = tmp_path / "table.csv"
    path.write_text("[density]\nhu,density_g_cm3\n0,1\n[materials]\nhu_min,material,stopping_power_table\n"
                    "0,PMMA,mcsquare:PMMA\n")
    assert read_ct_calibration(path).materials[0] == dataclasses.replace(get_material("PMMA"),
                                                                         stopping_power_table="mcsquare:PMMA")
    path.write_text("[density]\nhu,density_g_cm3\n0,1\n[materials]\nhu_min,material,stopping_power_table\n"
                    "0,PMMA,geant4:PMMA\n")
    with pytest.raises(InputError, match=r"table.csv: line 6: stopping_power_table 'geant4:PMMA'"):
        read_ct_calibration(path)
