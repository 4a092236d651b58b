"""RT Dose writing and reading: round trips and the planning system's own dose."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from braggdesk.errors import InputError
from braggdesk.io.rtdose import read_rtdose, read_rtdose_info, write_rtdose
from braggdesk.model import Beam, Plan, Volume

DATA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
PLAN03 = DATA / "dcpt-let-2022" / "plans" / "plan03_sobp_raystation"
DOSE03 = PLAN03 / "RD1.2.752.243.1.1.20221209141208883.1000.23750.dcm"
RP03 = PLAN03 / "RP1.2.752.243.1.1.20221209141208883.9000.73261.dcm"

needs_data = pytest.mark.skipif(not DOSE03.exists(), reason="shared data sets not available")


def _grid(shape=(5, 4, 6), direction=None) -> Volume:
    return Volume(hu=np.zeros(shape, dtype=np.float32), spacing_mm=(2.0, 2.5, 3.0), origin_mm=(-10.0, 20.5, -33.25),
                  direction=np.eye(3) if direction is None else direction,
                  frame_of_reference_uid="1.2.826.0.1.3680043.8.498.77", study_instance_uid="1.2.3.999")


def _dose(shape=(5, 4, 6)) -> np.ndarray:
    return np.random.default_rng(3).gamma(2.0, 0.4, size=shape)


def test_round_trip_within_1e4_of_max(tmp_path):
    grid, dose = _grid(), _dose()
    ct = grid.with_hu(np.zeros(grid.shape))
    ct.study_instance_uid = "1.2.826.0.1.3680043.8.498.55"
    plan = Plan(label="p", beams=[Beam("b", 1, 0.0, 0.0, (0, 0, 0), [])], sop_instance_uid="1.2.826.0.1.3680043.8.498.66")
    path = write_rtdose(dose, grid, tmp_path / "RD.dcm", plan=plan, ct=ct, dose_type="EFFECTIVE", summation="BEAM",
                        comment="MC test")
    back = read_rtdose(path)
    assert back.hu.dtype == np.float32
    assert np.max(np.abs(back.hu - dose)) < 1e-4 * dose.max()
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
    assert np.max(np.abs(back.hu - dose)) < 1e-4 * dose.max()


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
    assert np.all(back.hu == 0)


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
    assert float(dose.hu.max()) == pytest.approx(1.98, abs=0.005)
    info = read_rtdose_info(DOSE03)
    assert (info.dose_units, info.dose_type, info.summation) == ("GY", "PHYSICAL", "PLAN")
    assert info.referenced_plan_uid == pydicom.dcmread(RP03, stop_before_pixels=True).SOPInstanceUID
    assert dose.frame_of_reference_uid == "1.2.826.0.1.3680043.8.176.20111122133550298.11.1427180504"


@needs_data
def test_a_plan_is_not_a_dose():
    with pytest.raises(InputError, match="is an RT Ion Plan.*expected an RT Dose"):
        read_rtdose(RP03)
