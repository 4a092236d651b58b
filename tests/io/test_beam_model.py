"""Beam-model files: DCPT CSV, MCsquare BDL (single and double Gaussian), the shipped default, malformed files."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import dataclasses
import numpy as np
import pytest

from braggdesk.errors import InputError
from braggdesk.io import wire, wire_jobs
from braggdesk.io.beam_model_reader import (
    DCPT_VSAD_MM,
    available_beam_models,
    dcpt_range_shifters,
    read_bdl,
    read_beam_model,
    read_dcpt_beam_model,
    write_bdl,
)
from braggdesk.physics.library import get_material, material_by_mcsquare_label
from braggdesk.physics.material_constants import material_physics
from braggdesk.physics.packaged import resource_path
from braggdesk.model.beam_model import _COLUMNS, BeamModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from cases import pencil_job  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
DCPT = DATA / "dcpt-let-2022" / "beam_model"


@pytest.fixture(scope="module")
def dcpt_v2() -> BeamModel:
    return read_beam_model(DCPT / "DCPT_beam_model__v2.csv")


@pytest.fixture(scope="module")
def dcpt_v5() -> BeamModel:
    return read_beam_model(DCPT / "DCPT_beam_model__v5.csv")


def assert_same_model(a: BeamModel, b: BeamModel, rtol: float = 0.0) -> None:
    assert a.name == b.name
    assert a.reference_plane_to_isocenter_mm == b.reference_plane_to_isocenter_mm
    assert tuple(a.virtual_source_axis_distance_mm) == tuple(b.virtual_source_axis_distance_mm)
    assert a.range_shifters == b.range_shifters
    for column in _COLUMNS:
        np.testing.assert_allclose(getattr(a, column), getattr(b, column), rtol=rtol, atol=0, err_msg=column)


# --------------------------------------------------------------------------------------- DCPT


def test_dcpt_reference_planes(dcpt_v2, dcpt_v5):
    assert dcpt_v2.reference_plane_to_isocenter_mm == 500.0
    assert dcpt_v5.reference_plane_to_isocenter_mm == 600.0
    for model in (dcpt_v2, dcpt_v5):
        assert model.energy_range_mev == (70.0, 244.0)
        assert len(model.nominal_energy_mev) == 1741
        assert model.virtual_source_axis_distance_mm == DCPT_VSAD_MM == (2000.0, 2560.0)
    assert "iter4" in dcpt_v2.name and "DCPT_beam_model__v2.csv" in dcpt_v2.name


def test_dcpt_first_row_and_long_floats(dcpt_v2):
    o = dcpt_v2.optics(70.0)
    assert (o.mean_energy_mev, o.energy_spread_mev, o.protons_per_mu) == (71.38, 1.23, 2106924.0)
    assert (o.sigma_x_mm, o.sigma_y_mm) == (4.472, 3.629)
    assert o.divergence_x_rad == pytest.approx(0.0061, rel=1e-15)  # written 0.0061000000000000000001
    assert (o.correlation_x, o.correlation_y) == (0.306094, 0.7405621)
    assert dcpt_v2.optics(70.2).mean_energy_mev == pytest.approx(71.5752)


def test_dcpt_interpolation_between_rows(dcpt_v5):
    lo, hi, mid = dcpt_v5.optics(160.0), dcpt_v5.optics(160.1), dcpt_v5.optics(160.05)
    assert lo.mean_energy_mev == pytest.approx(160.1319965)  # the 160.0 MeV row itself
    for field in ("mean_energy_mev", "energy_spread_mev", "protons_per_mu", "sigma_x_mm", "sigma_y_mm",
                  "divergence_x_rad", "divergence_y_rad", "correlation_x", "correlation_y"):
        a, b, m = getattr(lo, field), getattr(hi, field), getattr(mid, field)
        assert min(a, b) <= m <= max(a, b), field
        assert m == pytest.approx((a + b) / 2, rel=1e-9), field
    with pytest.raises(ValueError, match="outside the beam model"):
        dcpt_v5.optics(250.0)


def test_dcpt_range_shifter(dcpt_v5):
    rs = dcpt_v5.range_shifters["RS_3CM"]
    assert rs == dcpt_range_shifters()["RS_3CM"]
    assert (rs.material, rs.thickness_mm, rs.isocenter_distance_mm, rs.water_equivalent_thickness_mm) == \
        ("Lexan", 30.0, 135.9, 34.3)
    assert rs.composition == get_material("Lexan") and rs.composition.density_g_cm3 == 1.2


def test_shipped_dcpt_copy_reads_like_the_original(dcpt_v5):
    shipped = read_beam_model("dcpt_v5")
    assert shipped.name.endswith("(dcpt_v5.csv)")
    for column in _COLUMNS:
        np.testing.assert_array_equal(getattr(shipped, column), getattr(dcpt_v5, column))


# --------------------------------------------------------------------------------------- default BDL


def test_default_model_is_the_generic_bdl(dcpt_v5):
    model = read_beam_model(None)
    assert model.source_path == str(resource_path("beam_models/generic_pbs.bdl"))
    assert "generic_pbs.bdl" in available_beam_models()
    assert model.reference_plane_to_isocenter_mm == 600.0
    assert model.virtual_source_axis_distance_mm == (2000.0, 2560.0)
    assert model.energy_range_mev == (70.0, 244.0)
    np.testing.assert_array_equal(model.nominal_energy_mev, np.arange(70.0, 245.0))
    assert model.range_shifters == dcpt_range_shifters()
    for energy in model.nominal_energy_mev:  # derived from DCPT v5 without change
        a, b = model.optics(energy), dcpt_v5.optics(energy)
        for field in ("mean_energy_mev", "energy_spread_mev", "protons_per_mu", "sigma_x_mm", "sigma_y_mm",
                      "divergence_x_rad", "divergence_y_rad", "correlation_x", "correlation_y"):
            assert getattr(a, field) == pytest.approx(getattr(b, field), rel=1e-12), (energy, field)


def test_bdl_round_trip_default(tmp_path):
    model = read_beam_model()
    back = read_beam_model(write_bdl(model, tmp_path / "copy.txt"))
    assert_same_model(back, model, rtol=1e-13)


def test_bdl_round_trip_dcpt(tmp_path, dcpt_v2):
    path = write_bdl(dcpt_v2, tmp_path / "v2.bdl", comments=["converted\nfor a test"])
    text = path.read_text()
    assert text.startswith("--UPenn beam model (double gaussian)--\n")
    assert "# converted\n# for a test\n" in text
    assert "1741 energies\n\nNominalEnergy MeanEnergy EnergySpread ProtonsMU Weight1" in text
    back = read_bdl(path)
    assert_same_model(back, dcpt_v2, rtol=1e-13)


BDL = """--UPenn beam model (double gaussian)--
# a hand-written model

Nozzle exit to Isocenter distance
430.0

SMX to Isocenter distance
1900.0

SMY to Isocenter distance
2100.0
{shifter}
Beam parameters
2 energies

NominalEnergy MeanEnergy EnergySpread ProtonsMU Weight1 SpotSize1x Divergence1x Correlation1x SpotSize1y Divergence1y Correlation1y Weight2 SpotSize2x Divergence2x Correlation2x SpotSize2y Divergence2y Correlation2y
{row1}
200.0 200.5 0.5 2000000 1 3.0 0.002 0.1 3.5 0.0025 0.2 {w2} 3.0 0.002 0.1 3.5 0.0025 0.2
"""
ROW1 = "100.0 100.2 1.0 1000000 1 4.0 0.003 0.5 4.5 0.0035 0.6 0 4.0 0.003 0.5 4.5 0.0035 0.6"
SHIFTER = """
Range Shifter parameters
RS_ID = RS_40
RS_type = binary
RS_material = 64
RS_density = 1.19
RS_WET = 40.0
"""


def _bdl(tmp_path: Path, shifter: str = "", row1: str = ROW1, w2: str = "0.0", name: str = "model.txt") -> Path:
    path = tmp_path / name
    path.write_text(BDL.format(shifter=shifter, row1=row1, w2=w2))
    return path


def test_hand_written_bdl(tmp_path):
    model = read_beam_model(_bdl(tmp_path, SHIFTER))
    assert model.name == "model"
    assert model.reference_plane_to_isocenter_mm == 430.0
    assert model.virtual_source_axis_distance_mm == (1900.0, 2100.0)
    o = model.optics(100.0)
    assert o.energy_spread_mev == pytest.approx(1.002)  # 1 % of 100.2 MeV
    assert (o.sigma_x_mm, o.divergence_x_rad, o.correlation_x) == (4.0, 0.003, 0.5)
    assert (o.sigma_y_mm, o.divergence_y_rad, o.correlation_y) == (4.5, 0.0035, 0.6)
    assert model.optics(200.0).energy_spread_mev == pytest.approx(0.5 / 100 * 200.5)
    rs = model.range_shifters["RS_40"]
    pmma = material_by_mcsquare_label(64)  # a BDL label means MCsquare's own PMMA, with its stopping powers
    assert rs.material == "PMMA" and rs.composition == pmma and pmma.stopping_power_table == "mcsquare:PMMA"
    assert rs.water_equivalent_thickness_mm == 40.0
    assert rs.thickness_mm == pytest.approx(40.0 / material_physics(pmma).relative_stopping_power)
    assert 33.9 < rs.thickness_mm < 34.2  # MCsquare's PMMA: mass RSP 0.9876 at 1.19 g/cm3
    assert rs.isocenter_distance_mm == pytest.approx(430.0 + rs.thickness_mm / 2)  # downstream face at the nozzle


def test_bdl_range_shifter_density_and_extensions(tmp_path):
    shifter = SHIFTER.replace("RS_density = 1.19", "RS_density = 1.25") + \
        "RS_thickness = 20.0\nRS_isocenter_distance = 250.0\n"
    rs = read_bdl(_bdl(tmp_path, shifter)).range_shifters["RS_40"]
    assert rs.composition.density_g_cm3 == 1.25
    assert rs.composition == dataclasses.replace(material_by_mcsquare_label(64), density_g_cm3=1.25)
    assert (rs.thickness_mm, rs.isocenter_distance_mm) == (20.0, 250.0)
    model = read_bdl(_bdl(tmp_path, shifter))
    assert_same_model(read_bdl(write_bdl(model, tmp_path / "again.bdl")), model, rtol=1e-13)
    none = read_bdl(_bdl(tmp_path, SHIFTER.replace("binary", "none")))
    assert none.range_shifters == {}


# --------------------------------------------------------------------------------------- double Gaussian

MCSQUARE_UN = Path(__file__).resolve().parent / "data" / "mcsquare_BDL_default_UN_excerpt.txt"
SECOND_FIELDS = ("sigma_x2_mm", "divergence_x2_rad", "correlation_x2", "sigma_y2_mm", "divergence_y2_rad",
                 "correlation_y2")


def test_mcsquare_default_double_gaussian_model():
    """MCsquare's own default BDL (IBA universal nozzle): every row has a 2-3 % halo."""
    model = read_beam_model(MCSQUARE_UN)
    assert model.double_gaussian
    assert model.reference_plane_to_isocenter_mm == 410.0
    assert model.virtual_source_axis_distance_mm == (2234.8, 1859.1)
    np.testing.assert_array_equal(model.nominal_energy_mev, [100.0, 105.0, 160.0, 225.0])
    np.testing.assert_allclose(model.weight2, [0.03, 0.029, 0.025, 0.02], rtol=1e-15)
    o = model.optics(160.0)
    assert (o.sigma_x_mm, o.divergence_x_rad, o.correlation_x) == (5.911956, 0.003669, -0.232840)
    assert (o.sigma_y_mm, o.divergence_y_rad, o.correlation_y) == (5.307498, 0.003338, 0.524908)
    assert o.weight2 == pytest.approx(0.025, rel=1e-15)
    assert tuple(getattr(o, f) for f in SECOND_FIELDS) == (23.150369, 0.024252, -0.002113, 23.110252, 0.021426,
                                                           0.071855)
    assert o.protons_per_mu == 132234148.3  # both Gaussians together
    assert o.energy_spread_mev == pytest.approx(0.613567 / 100 * 160.921)


def test_double_gaussian_interpolates_like_the_first():
    model = read_beam_model(MCSQUARE_UN)
    lo, hi, mid = model.optics(160.0), model.optics(225.0), model.optics(192.5)
    for name in ("weight2", *SECOND_FIELDS, "sigma_x_mm", "correlation_y"):
        assert getattr(mid, name) == pytest.approx((getattr(lo, name) + getattr(hi, name)) / 2, rel=1e-12), name
    assert mid.weight2 == pytest.approx(0.0225)
    third = model.optics(100.0 + 5.0 / 3)
    assert third.sigma_y2_mm == pytest.approx(31.039607 + (30.562837 - 31.039607) / 3, rel=1e-12)


def test_double_gaussian_bdl_round_trip(tmp_path):
    model = read_beam_model(MCSQUARE_UN)
    path = write_bdl(model, tmp_path / "un.bdl")
    assert_same_model(read_bdl(path), model, rtol=1e-13)
    rows = path.read_text().split("NominalEnergy MeanEnergy", 1)[1].splitlines()[1:]
    first = [float(v) for v in rows[0].split()]  # MCsquare reads by position: Weight1 is column 5, Weight2 12
    assert first[4] == pytest.approx(0.97, rel=1e-15) and first[11] == pytest.approx(0.03, rel=1e-15)
    assert first[12:18] == [31.288536, 0.024913, 0.30613, 31.039607, 0.019972, 0.364533]


# The same two Gaussians, columns in another order than MCsquare's and weights that do not sum to 1.
SHUFFLED = """--UPenn beam model (double gaussian)--
Nozzle exit to Isocenter distance
500.0
SMX to Isocenter distance
2000.0
SMY to Isocenter distance
2000.0
Beam parameters
2 energies
Weight2 SpotSize2y Divergence2y Correlation2y SpotSize2x Divergence2x Correlation2x NominalEnergy MeanEnergy EnergySpread ProtonsMU Weight1 SpotSize1x Divergence1x Correlation1x SpotSize1y Divergence1y Correlation1y
0.5 22.0 0.04 -0.2 20.0 0.03 0.1 100.0 100.0 1.0 1e6 2.0 4.0 0.003 0.5 4.5 0.0035 0.6
{w2} 12.0 0.02 -0.4 10.0 0.01 0.3 200.0 200.0 1.0 2e6 {w1} 3.0 0.002 0.1 3.5 0.0025 0.2
"""


def _shuffled(tmp_path: Path, w1: str = "0.9", w2: str = "0.1", edit=lambda t: t) -> Path:
    path = tmp_path / "shuffled.bdl"
    path.write_text(edit(SHUFFLED.format(w1=w1, w2=w2)))
    return path


def test_double_gaussian_columns_in_any_order_and_weights_normalised(tmp_path):
    model = read_bdl(_shuffled(tmp_path))
    np.testing.assert_allclose(model.weight2, [0.5 / 2.5, 0.1 / 1.0], rtol=1e-15)
    o = model.optics(100.0)
    assert (o.sigma_x_mm, o.sigma_y_mm, o.correlation_x, o.correlation_y) == (4.0, 4.5, 0.5, 0.6)
    assert (o.sigma_x2_mm, o.divergence_x2_rad, o.correlation_x2) == (20.0, 0.03, 0.1)
    assert (o.sigma_y2_mm, o.divergence_y2_rad, o.correlation_y2) == (22.0, 0.04, -0.2)
    # braggdesk interpolates the normalised fraction (MCsquare: the raw weights, then normalises)
    assert model.optics(150.0).weight2 == pytest.approx(0.15)
    assert_same_model(read_bdl(write_bdl(model, tmp_path / "back.bdl")), model, rtol=1e-13)


def test_single_gaussian_models_have_no_second_gaussian(dcpt_v5, tmp_path):
    for model in (dcpt_v5, read_beam_model(None), read_bdl(_bdl(tmp_path))):
        assert not model.double_gaussian
        np.testing.assert_array_equal(model.weight2, 0.0)
        assert model.optics(model.energy_range_mev[0]).weight2 == 0.0
    for name in SECOND_FIELDS:  # the DCPT format has no second Gaussian
        np.testing.assert_array_equal(getattr(dcpt_v5, name), 0.0)
    second_columns = " Weight2 SpotSize2x Divergence2x Correlation2x SpotSize2y Divergence2y Correlation2y"
    eleven_columns = BDL.replace(second_columns, "").replace(" {w2} 3.0 0.002 0.1 3.5 0.0025 0.2", "")
    path = tmp_path / "eleven.bdl"
    path.write_text(eleven_columns.format(shifter="", row1=ROW1.rsplit(" ", 7)[0]))
    eleven = read_bdl(path)  # no Weight2 column: single Gaussian
    assert not eleven.double_gaussian and eleven.optics(100.0).sigma_x_mm == 4.0


@pytest.mark.parametrize("w1, w2, edit, problem", [
    ("0.9", "-0.1", None, r"line 12: Weight2 = -0.1 is negative"),
    ("-0.5", "0.1", None, r"line 12: Weight1 = -0.5 is negative"),
    ("0", "0", None, r"line 12: Weight1 \+ Weight2 = 0"),
    ("0", "0.1", None, r"line 12: nominal energy 200 MeV: Weight2 / \(Weight1 \+ Weight2\) = 1 is outside \[0, 1\)"),
    ("0.9", "0.1", lambda t: t.replace("12.0 0.02 -0.4 10.0", "12.0 0.02 -0.4 0"),
     r"line 12: nominal energy 200 MeV: SpotSize2x = 0 is not positive, but the second Gaussian has a weight"),
    ("0.9", "0.1", lambda t: t.replace("0.5 22.0 0.04 -0.2", "0.5 22.0 -0.04 -0.2"),
     r"line 11: nominal energy 100 MeV: Divergence2y = -0.04 is negative"),
    ("0.9", "0.1", lambda t: t.replace("0.02 -0.4 10.0", "0.02 -1.0 10.0"),
     r"line 12: nominal energy 200 MeV: Correlation2y = -1 is not between -1 and 1"),
    ("0.9", "0.1", lambda t: t.replace("0.003 0.5 4.5", "0.003 1.5 4.5"),
     r"line 11: nominal energy 100 MeV: Correlation1x = 1.5 is not between -1 and 1"),
    ("0.9", "0.1", lambda t: t.replace(" Correlation2x", "").replace("0.03 0.1 100.0", "0.03 100.0")
     .replace("0.01 0.3 200.0", "0.01 200.0"), r"line 10: the energy table lacks column\(s\) Correlation2x"),
    ("0.9", "0.1", lambda t: t.replace(" Weight1", "").replace(" 2.0 4.0", " 4.0").replace(" 0.9 3.0", " 3.0"),
     r"line 10: the energy table lacks column\(s\) Weight1"),
])
def test_bad_double_gaussian_refused_naming_file_and_line(tmp_path, w1, w2, edit, problem):
    path = _shuffled(tmp_path, w1, w2, edit or (lambda t: t))
    with pytest.raises(InputError, match=problem) as info:
        read_beam_model(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_halo_values_kept_where_its_weight_is_zero(tmp_path):
    """MCsquare's BDL_matrad.txt writes second-Gaussian values with Weight2 = 0; interpolation uses them."""
    model = read_bdl(_shuffled(tmp_path, w1="1", w2="0"))
    assert model.weight2[1] == 0.0 and model.sigma_x2_mm[1] == 10.0
    assert model.optics(150.0).sigma_x2_mm == pytest.approx(15.0)


def test_bad_dcpt_value_names_line_energy_and_field(tmp_path):
    lines = _dcpt_text()
    fields = lines[8].split(",")
    lines[8] = ",".join(fields[:8] + ["1.5"] + fields[9:])
    path = tmp_path / "dcpt.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"dcpt.csv: line 9: nominal energy 70.3 MeV: correlation_x = 1.5 is not "
                                         r"between -1 and 1"):
        read_dcpt_beam_model(path)


def test_double_gaussian_crosses_the_wire():
    """Remote and cluster workers get the halo: the job wire format carries every model field."""
    job = pencil_job(150.0, 1000, batches=2, model=read_beam_model(MCSQUARE_UN))
    back = wire_jobs.decode_job(wire.read_message(wire.stream_reader(io.BytesIO(wire_jobs.encode_job(job)))))
    assert back.beam_model.double_gaussian
    assert back.beam_model.optics(150.0) == job.beam_model.optics(150.0)


@pytest.mark.parametrize("edit, problem", [
    (lambda t: t.replace(ROW1, ROW1.replace("4.5", "4,5", 1)), r"line 24: SpotSize1y '4,5' is not a number"),
    (lambda t: t.replace(ROW1, ROW1.rsplit(" ", 1)[0]), r"line 24: 17 values for 18 columns"),
    (lambda t: t.replace("SpotSize1x ", ""), r"line 23: the energy table lacks column\(s\) SpotSize1x"),
    (lambda t: t.replace("2 energies", "3 energies"), r"line 21: says 3 energies, but only 2 rows follow"),
    (lambda t: t.replace("2 energies", "two energies"), r"line 21: found 'two energies'"),
    (lambda t: t.replace("SMY to Isocenter distance\n2100.0", ""), r"no 'SMY to Isocenter distance' line"),
    (lambda t: t.replace("430.0", "far"), r"line 5: Nozzle exit to Isocenter distance 'far' is not a number"),
    (lambda t: t.replace("RS_material = 64", "RS_material = 999"), r"RS_material '999' is not an MCsquare"),
    (lambda t: t.replace("RS_WET = 40.0\n", ""), r"range shifter RS_40 has neither RS_WET nor RS_thickness"),
    (lambda t: t.replace("200.0 200.5", "100.0 200.5"), r"nominal energy 100 MeV appears more than once"),
])
def test_malformed_bdl(tmp_path, edit, problem):
    path = tmp_path / "broken.bdl"
    path.write_text(edit(BDL.format(shifter=SHIFTER, row1=ROW1, w2="0")))
    with pytest.raises(InputError, match=problem) as info:
        read_beam_model(path)
    assert str(info.value).startswith(str(path))


# --------------------------------------------------------------------------------------- malformed DCPT


def _dcpt_text() -> list[str]:
    return (DCPT / "DCPT_beam_model__v5.csv").read_text().splitlines()[:20]


@pytest.mark.parametrize("edit, problem", [
    (lambda ls: ls[:8] + [ls[8].replace("70.3", "70.3x", 1)] + ls[9:], r"line 9: nominal_energy_mev '70.3x' is not a number"),
    (lambda ls: ls[:10] + [ls[10].rsplit(",", 1)[0]] + ls[11:], r"line 11: 9 columns, expected 10"),
    (lambda ls: ls[:2] + ls[3:], r"no 'BMODPOS <distance> mm' comment line"),
    (lambda ls: ls[:5], r"no data rows"),
])
def test_malformed_dcpt(tmp_path, edit, problem):
    path = tmp_path / "dcpt.csv"
    path.write_text("\n".join(edit(_dcpt_text())) + "\n")
    with pytest.raises(InputError, match=problem) as info:
        read_dcpt_beam_model(path)
    assert str(info.value).startswith(str(path))


def test_dcpt_detection_and_trimmed_copy(tmp_path):
    path = tmp_path / "dcpt.csv"
    path.write_text("\n".join(_dcpt_text()) + "\n")
    model = read_beam_model(path)
    assert model.reference_plane_to_isocenter_mm == 600.0
    assert model.energy_range_mev == (70.0, 71.4)


def test_unreadable_and_unknown_files(tmp_path):
    with pytest.raises(InputError, match="nothing.bdl: cannot read the beam model"):
        read_beam_model(tmp_path / "nothing.bdl")
    with pytest.raises(InputError, match="is a folder"):
        read_beam_model(tmp_path)
    other = tmp_path / "notes.txt"
    other.write_text("hello\nworld\n")
    with pytest.raises(InputError, match="notes.txt: not a beam model braggdesk knows"):
        read_beam_model(other)
    lookup = tmp_path / "lut.txt"
    lookup.write_text("--Lookup table BDL format--\n")
    with pytest.raises(InputError, match="Lookup table"):
        read_beam_model(lookup)
    binary = tmp_path / "model.bdl"
    binary.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(InputError, match="model.bdl: not a text file"):
        read_beam_model(binary)
