"""RT Dose writing and reading: round trips and the planning system's own dose."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from braggdesk.errors import InputError
from braggdesk.io.rtdose import check_dose_grid_on_ct, read_rtdose, read_rtdose_info, write_rtdose
from braggdesk.model import Beam, Plan, Volume

DATA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
PLAN03 = DATA / "dcpt-let-2022" / "plans" / "plan03_sobp_raystation"
DOSE03 = PLAN03 / "RD1.2.752.243.1.1.20221209141208883.1000.23750.dcm"
RP03 = PLAN03 / "RP1.2.752.243.1.1.20221209141208883.9000.73261.dcm"

needs_data = pytest.mark.skipif(not DOSE03.exists(), reason="shared data sets not available")


def _grid(shape=(5, 4, 6), direction=None) -> Volume:
    return Volume(values=np.zeros(shape, dtype=np.float32), spacing_mm=(2.0, 2.5, 3.0), origin_mm=(-10.0, 20.5, -33.25),
                  direction=np.eye(3) if direction is None else direction,
                  frame_of_reference_uid="1.2.826.0.1.3680043.8.498.77", study_instance_uid="1.2.3.999")


def _dose(shape=(5, 4, 6)) -> np.ndarray:
    return np.random.default_rng(3).gamma(2.0, 0.4, size=shape)


def test_round_trip_within_1e4_of_max(tmp_path):
    grid, dose = _grid(), _dose()
    ct = grid.with_values(np.zeros(grid.shape), unit="HU")
    ct.study_instance_uid = "1.2.826.0.1.3680043.8.498.55"
    plan = Plan(label="p", beams=[Beam("b", 1, 0.0, 0.0, (0, 0, 0), [])], sop_instance_uid="1.2.826.0.1.3680043.8.498.66")
    path = write_rtdose(dose, grid, tmp_path / "RD.dcm", plan=plan, ct=ct, dose_type="EFFECTIVE", summation="BEAM",
                        comment="MC test")
    back = read_rtdose(path)
    assert back.values.dtype == np.float32
    assert np.max(np.abs(back.values - dose)) < 1e-4 * dose.max()
    assert back.spacing_mm == pytest.approx(grid.spacing_mm)
    assert back.origin_mm == pytest.approx(grid.origin_mm)
    np.testing.assert_allclose(back.direction, np.eye(3))
    assert back.frame_of_reference_uid == grid.frame_of_reference_uid
    assert back.study_instance_uid == ct.study_instance_uid
    info = read_rtdose_info(path)
    assert (info.dose_units, info.dose_type, info.summation, info.comment) == ("GY", "EFFECTIVE", "BEAM", "MC test")
    assert info.referenced_plan_uid == plan.sop_instance_uid


def test_written_header_is_a_standard_rt_dose(tmp_path):
    grid, dose = _grid(), _dose()
    ds = pydicom.dcmread(write_rtdose(dose, grid, tmp_path / "RD.dcm"))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.481.2" and ds.Modality == "RTDOSE"
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert int(ds.NumberOfFrames) == 5 and ds.Rows == 4 and ds.Columns == 6
    assert ds.FrameIncrementPointer == pydicom.tag.Tag(0x3004, 0x000C)
    assert [float(v) for v in ds.GridFrameOffsetVector] == [0.0, 3.0, 6.0, 9.0, 12.0]
    assert [float(v) for v in ds.PixelSpacing] == [2.5, 2.0]  # [row, column]
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (32, 32, 31, 0)
    pixels = ds.pixel_array
    assert pixels.dtype == np.uint32 and pixels.shape == (5, 4, 6)
    assert pixels.max() > 0.999 * (2**32 - 1)  # the scaling uses the whole 32-bit range
    assert float(ds.DoseGridScaling) * pixels.max() == pytest.approx(dose.max(), rel=1e-9)
    assert ds.DoseUnits == "GY" and ds.DoseType == "PHYSICAL" and ds.DoseSummationType == "PLAN"
    assert ds.StudyInstanceUID == grid.study_instance_uid  # no CT given: the grid's study
    assert "ReferencedRTPlanSequence" not in ds


def test_slices_running_against_the_normal(tmp_path):
    direction = np.diag([1.0, 1.0, -1.0])  # frames towards -z: negative frame offsets
    grid, dose = _grid(direction=direction), _dose()
    path = write_rtdose(dose, grid, tmp_path / "RD.dcm")
    assert [float(v) for v in pydicom.dcmread(path).GridFrameOffsetVector][:3] == [0.0, -3.0, -6.0]
    back = read_rtdose(path)
    np.testing.assert_allclose(back.direction, direction)
    assert back.origin_mm == pytest.approx(grid.origin_mm)
    assert np.max(np.abs(back.values - dose)) < 1e-4 * dose.max()


def test_absolute_frame_offsets_are_understood(tmp_path):
    grid, dose = _grid(), _dose()
    path = write_rtdose(dose, grid, tmp_path / "RD.dcm")
    ds = pydicom.dcmread(path)
    ds.GridFrameOffsetVector = [-33.25 + 3.0 * k for k in range(5)]  # z positions, allowed for axial grids
    ds.save_as(path)
    back = read_rtdose(path)
    assert back.spacing_mm[2] == pytest.approx(3.0) and back.origin_mm == pytest.approx(grid.origin_mm)


def test_zero_dose(tmp_path):
    back = read_rtdose(write_rtdose(np.zeros((5, 4, 6)), _grid(), tmp_path / "RD.dcm"))
    assert np.all(back.values == 0)


def test_writer_refuses_bad_input(tmp_path):
    grid = _grid()
    with pytest.raises(ValueError, match="shape"):
        write_rtdose(np.zeros((2, 2, 2)), grid, tmp_path / "a.dcm")
    with pytest.raises(ValueError, match="negative"):
        write_rtdose(-_dose(), grid, tmp_path / "a.dcm")
    with pytest.raises(ValueError, match="dose_type"):
        write_rtdose(_dose(), grid, tmp_path / "a.dcm", dose_type="BIOLOGICAL")
    with pytest.raises(ValueError, match="summation"):
        write_rtdose(_dose(), grid, tmp_path / "a.dcm", summation="TOTAL")


def test_uneven_frames_are_refused(tmp_path):
    path = write_rtdose(_dose(), _grid(), tmp_path / "RD.dcm")
    ds = pydicom.dcmread(path)
    ds.GridFrameOffsetVector = [0, 3, 6, 10, 13]
    ds.save_as(path)
    with pytest.raises(InputError, match="not evenly spaced"):
        read_rtdose(path)


@needs_data
def test_raystation_dose():
    dose = read_rtdose(DOSE03)
    assert dose.shape == (107, 105, 105)  # frames, rows, columns
    assert dose.spacing_mm == (2.0, 2.0, 2.0)
    assert dose.origin_mm == (-103.5, -103.5, -106.0)
    assert float(dose.values.max()) == pytest.approx(1.98, abs=0.005)
    info = read_rtdose_info(DOSE03)
    assert (info.dose_units, info.dose_type, info.summation) == ("GY", "PHYSICAL", "PLAN")
    assert info.referenced_plan_uid == pydicom.dcmread(RP03, stop_before_pixels=True).SOPInstanceUID
    assert dose.frame_of_reference_uid == "1.2.826.0.1.3680043.8.176.20111122133550298.11.1427180504"


@needs_data
def test_a_plan_is_not_a_dose():
    with pytest.raises(InputError, match="is an RT Ion Plan.*expected an RT Dose"):
        read_rtdose(RP03)


# ---------------------------------------------------------------- planning-system doses and other readers

REAL_DOSES = sorted((DATA / "dcpt-let-2022" / "plans").glob("*/RD*.dcm"))


@needs_data
@pytest.mark.parametrize("path", REAL_DOSES, ids=lambda p: p.parent.name)
def test_every_real_planning_system_dose_reads(path):
    ds = pydicom.dcmread(path)
    dose = read_rtdose(path)
    info = read_rtdose_info(path)
    assert dose.shape == (int(ds.NumberOfFrames), ds.Rows, ds.Columns)
    # 16-bit pixels times DoseGridScaling, nothing lost on the way
    np.testing.assert_allclose(dose.values, ds.pixel_array * float(ds.DoseGridScaling), rtol=1e-6)
    assert info.dose_units == "GY" and info.dose_type in ("PHYSICAL", "EFFECTIVE")
    assert 1.5 < float(dose.values.max()) < 2.5  # these plans deliver about 2 Gy
    assert dose.frame_of_reference_uid == ds.FrameOfReferenceUID


@needs_data
def test_beam_dose_names_its_beam():
    path = next((DATA / "dcpt-let-2022" / "plans" / "plan06_sobp_4d_rangeshifter_raystation").glob("RD*.dcm"))
    info = read_rtdose_info(path)
    assert (info.summation, info.dose_type, info.rbe_weighted) == ("BEAM", "EFFECTIVE", True)
    assert info.referenced_beam_numbers == (1,)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # dicompyler-core uses pydicom 2 names
def test_dicompyler_core_reads_our_rtdose(tmp_path):
    pytest.importorskip("dicompylercore")
    import pydicom.dicomio

    if not hasattr(pydicom.dicomio, "read_file"):  # dicompyler-core 0.5.6 imports pydicom 2's name
        pydicom.dicomio.read_file = pydicom.dcmread
    from dicompylercore import dicomparser

    grid, dose = _grid(), _dose()
    path = write_rtdose(dose, grid, tmp_path / "RD.dcm")
    parser = dicomparser.DicomParser(str(path))
    data = parser.GetDoseData()
    assert data["doseunits"] == "GY" and data["frames"] == 5
    assert (data["rows"], data["columns"]) == (4, 6)
    assert data["dosemax"] * float(data["dosegridscaling"]) == pytest.approx(dose.max(), rel=1e-6)
    z = grid.origin_mm[2] + 2 * grid.spacing_mm[2]
    plane = np.asarray(parser.GetDoseGrid(z)) * float(data["dosegridscaling"])
    np.testing.assert_allclose(plane, dose[2], rtol=1e-6, atol=1e-6 * dose.max())


def test_scaling_keeps_float_dose_within_1e4_of_max_over_a_wide_range(tmp_path):
    rng = np.random.default_rng(11)
    for peak in (1e-6, 0.37, 2.0, 78.5, 6.5e3):
        dose = rng.uniform(0, peak, size=(5, 4, 6))
        dose[0, 0, 0] = peak / 7e5  # a tiny value next to the maximum
        back = read_rtdose(write_rtdose(dose, _grid(), tmp_path / "RD.dcm"))
        assert np.max(np.abs(back.values - dose)) <= 1e-4 * dose.max(), peak


def test_dose_grid_against_the_ct():
    ct = _grid(shape=(20, 30, 40))
    inside = Volume(values=np.zeros((3, 3, 3)), spacing_mm=(5.0, 5.0, 5.0), origin_mm=(0.0, 30.0, -20.0),
                    frame_of_reference_uid=ct.frame_of_reference_uid)
    check_dose_grid_on_ct(inside, ct, "RD.dcm")
    outside = Volume(values=np.zeros((3, 3, 3)), spacing_mm=(5.0, 5.0, 5.0), origin_mm=(500.0, 30.0, -20.0),
                     frame_of_reference_uid=ct.frame_of_reference_uid)
    with pytest.raises(InputError, match=r"RD.dcm: dose grid \(x 500.0..510.0 mm.*lies outside the CT"):
        check_dose_grid_on_ct(outside, ct, "RD.dcm")
    other = Volume(values=np.zeros((3, 3, 3)), spacing_mm=(5.0, 5.0, 5.0), origin_mm=(0.0, 30.0, -20.0),
                   frame_of_reference_uid="1.2.3.4")
    with pytest.raises(InputError, match="frame of reference 1.2.3.4"):
        check_dose_grid_on_ct(other, ct, "RD.dcm")
    check_dose_grid_on_ct(other, ct, "RD.dcm", ignore_frame_of_reference=True)


def test_a_monte_carlo_dose_of_a_plan_of_several_fractions_is_one_fractions_dose():
    from braggdesk.io.rtdose import computed_summation
    from braggdesk.model import Plan

    course = Plan("p", [], fractions_planned=35, prescription_dose_gy=70.0)
    assert course.prescription_per_fraction_gy == pytest.approx(2.0)
    assert computed_summation(course) == "FRACTION"
    single = Plan("p", [], prescription_dose_gy=2.2)
    assert single.prescription_per_fraction_gy == pytest.approx(2.2) and computed_summation(single) == "PLAN"
    assert Plan("p", [], fractions_planned=35).prescription_per_fraction_gy is None
    assert computed_summation(None) == "PLAN"
