"""RTSTRUCT reading (real RayStation files), writing and round trips, and the broken files a user will meet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pydicom.dicomio

from braggdesk.io.deidentify import pseudonym
import pytest

from braggdesk.analysis.rasterize import roi_volume_cm3
from braggdesk.errors import InputError
from braggdesk.io.dicom_ct import write_ct_series
from braggdesk.io.rtstruct import read_rtstruct, read_sop_instance_uids, write_rtstruct
from braggdesk.model import Roi, StructureSet, Volume

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
PLANS = DATA / "dcpt-let-2022" / "plans"
RS_SOBP = PLANS / "plan03_sobp_raystation" / "RS1.2.752.243.1.1.20221209135909128.2180.16718.dcm"
RS_RAMP = PLANS / "plan03_ramp_full_raystation" / "RS1.2.752.243.1.1.20250522124652761.2000.43711.dcm"
PLAN02 = PLANS / "plan02_mono_eclipse" / "RN.1.2.246.352.71.5.37402163639.178320.20221207095327.dcm"
FRAME = "1.2.826.0.1.3680043.8.176.20111122133550298.11.1427180504"


@pytest.mark.parametrize("path, numbers", [(RS_SOBP, [8, 12, 13, 14, 2]), (RS_RAMP, [1, 2, 3, 4, 5])])
def test_real_raystation_structure_sets(path, numbers):
    ss = read_rtstruct(path)
    assert [r.number for r in ss.rois] == numbers
    assert ss.names() == ["Cube101010", "Slope101004", "External", "PMMA", "LoPo"]
    assert [r.roi_type for r in ss.rois] == ["PTV", "PTV", "EXTERNAL", "ORGAN", "MARKER"]
    assert ss.by_name("cube101010").color_rgb == (255, 255, 0)
    assert ss.frame_of_reference_uid == FRAME
    assert ss.referenced_series_uid == "1.2.826.0.1.3680043.8.176.20111122133550298.10.5406771221"
    assert ss.notes == []
    cube = ss.by_name("Cube101010")
    assert len(cube.contours) == 21 and all(c.shape == (4, 3) for c in cube.contours)
    # a 10 cm cube contoured on 21 planes 5 mm apart: 21 slabs of 5 mm under the slab convention
    assert roi_volume_cm3(cube) == pytest.approx(100.0 * 100.0 * 105.0 * 1e-3, rel=1e-9)
    lopo = ss.by_name("LoPo")
    assert lopo.is_point and not lopo.contours
    np.testing.assert_allclose(lopo.points_mm, [[0.0, 4.5, 0.0]])
    assert "DCPT" not in repr(ss) and "Dose_slopes" not in repr(ss)  # no patient identity kept


def _ct(tmp_path) -> tuple[Volume, list[str]]:
    volume = Volume(np.zeros((12, 16, 16), np.float32), (2.0, 2.0, 2.5), (-15.0, -15.0, -13.75),
                    frame_of_reference_uid="1.2.826.0.1.3680043.8.498.71", series_instance_uid="1.2.826.0.1.3680043.8.498.72",
                    study_instance_uid="1.2.826.0.1.3680043.8.498.73")
    paths = write_ct_series(volume, tmp_path / "ct")
    return volume, read_sop_instance_uids(paths)


def _square(z, half=5.0, reverse=False):
    sq = np.array([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]])
    return sq[::-1] if reverse else sq


def _structures(volume) -> StructureSet:
    z = volume.origin_mm[2] + 2.5 * np.arange(3, 8)
    ring = Roi(5, "Ring", (10, 20, 30), "PTV",
               contours=[c for zz in z for c in (_square(zz, 8.0), _square(zz, 3.0, reverse=True))])
    iso = Roi(7, "Iso", (255, 255, 0), "MARKER", points_mm=np.array([[1.0, 2.0, 3.0]]))
    empty = Roi(9, "Empty", roi_type="ORGAN")
    return StructureSet([ring, iso, empty], frame_of_reference_uid=volume.frame_of_reference_uid, label="test")


def test_round_trip_keeps_rois_and_references_the_ct(tmp_path):
    volume, uids = _ct(tmp_path)
    path = write_rtstruct(_structures(volume), volume, uids, tmp_path / "RS.dcm")
    back = read_rtstruct(path)
    assert back.names() == ["Ring", "Iso", "Empty"]
    assert [r.number for r in back.rois] == [5, 7, 9]
    assert [r.roi_type for r in back.rois] == ["PTV", "MARKER", "ORGAN"]
    ring = back.by_name("Ring")
    assert ring.color_rgb == (10, 20, 30)
    assert len(ring.contours) == 10
    np.testing.assert_allclose(ring.contours[0], _square(volume.origin_mm[2] + 7.5, 8.0), atol=1e-4)
    assert roi_volume_cm3(ring) == pytest.approx((256 - 36) * 2.5 * 5 * 1e-3)
    np.testing.assert_allclose(back.by_name("Iso").points_mm, [[1.0, 2.0, 3.0]])
    assert back.by_name("Empty").is_empty and any("'Empty'" in n and "no contours" in n for n in back.notes)
    assert back.frame_of_reference_uid == volume.frame_of_reference_uid
    assert back.referenced_series_uid == volume.series_instance_uid

    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.481.3" and ds.Modality == "RTSTRUCT"
    assert ds.StudyInstanceUID == volume.study_instance_uid
    refs = ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    assert [r.ReferencedSOPInstanceUID for r in refs.ContourImageSequence] == uids
    first = ds.ROIContourSequence[0].ContourSequence[0]
    assert first.ContourImageSequence[0].ReferencedSOPInstanceUID == uids[3]  # the slice the contour lies on
    # de-identified like the CT it belongs to: the same pseudonym, from the study UID
    assert ds.PatientName == pseudonym(volume.study_instance_uid) and ds.PatientIdentityRemoved == "YES"
    assert ds.get("PatientBirthDate", "") == ""


def test_written_file_reads_in_dicompyler_core(tmp_path):
    if not hasattr(pydicom.dicomio, "read_file"):  # dicompyler-core 0.5.6 imports pydicom 2's name
        pydicom.dicomio.read_file = pydicom.dcmread
    dicomparser = pytest.importorskip("dicompylercore.dicomparser")
    volume, uids = _ct(tmp_path)
    path = write_rtstruct(_structures(volume), volume, uids, tmp_path / "RS.dcm")
    parser = dicomparser.DicomParser(str(path))
    names = {s["name"] for s in parser.GetStructures().values()}
    assert names == {"Ring", "Iso", "Empty"}
    planes = parser.GetStructureCoordinates(5)
    assert len(planes) == 5 and all(len(contours) == 2 for contours in planes.values())


def test_writer_refuses_mismatched_inputs(tmp_path):
    volume, uids = _ct(tmp_path)
    with pytest.raises(ValueError, match="12 slices"):
        write_rtstruct(_structures(volume), volume, uids[:-1], tmp_path / "RS.dcm")
    other = _structures(volume)
    other.frame_of_reference_uid = "1.2.3.4"
    with pytest.raises(ValueError, match="frame of reference"):
        write_rtstruct(other, volume, uids, tmp_path / "RS.dcm")


# ----------------------------------------------------------------------------------------- broken files


@pytest.fixture
def written(tmp_path) -> Path:
    volume, uids = _ct(tmp_path)
    return write_rtstruct(_structures(volume), volume, uids, tmp_path / "RS.dcm")


def _edit(path: Path, change) -> Path:
    ds = pydicom.dcmread(path)
    change(ds)
    out = path.with_name("broken.dcm")
    ds.save_as(out, enforce_file_format=True)
    return out


def _first_contour(ds):
    return ds.ROIContourSequence[0].ContourSequence[0]


def _set_points(ds, values, count=None):
    c = _first_contour(ds)
    c.ContourData = values
    c.NumberOfContourPoints = count if count is not None else len(values) // 3


BROKEN = {
    "two points": (lambda ds: _set_points(ds, [0, 0, -6.25, 1, 0, -6.25]), "at least 3 points"),
    "count mismatch": (lambda ds: _set_points(ds, [0, 0, -6.25, 1, 0, -6.25, 1, 1, -6.25], 5), "says 5"),
    "not triplets": (lambda ds: _set_points(ds, [0, 0, -6.25, 1, 0, -6.25, 1, 1], 3), "multiple of 3"),
    "nan": (lambda ds: _set_points(ds, [0, 0, -6.25, 1, float("nan"), -6.25, 1, 1, -6.25]), "NaN"),
    "not planar": (lambda ds: _set_points(ds, [0, 0, 0, 10, 0, 0, 10, 10, 5, 0, 10, 0]), "off any plane"),
    "unknown type": (lambda ds: setattr(_first_contour(ds), "ContourGeometricType", "CURVED"), "CURVED"),
    "undeclared roi": (lambda ds: setattr(ds.ROIContourSequence[0], "ReferencedROINumber", 42), "number 42"),
    "duplicate number": (lambda ds: setattr(ds.StructureSetROISequence[1], "ROINumber", 5), "unique"),
    "no roi sequence": (lambda ds: delattr(ds, "StructureSetROISequence"), "StructureSetROISequence"),
    "no contour data": (lambda ds: delattr(_first_contour(ds), "ContourData"), "no ContourData"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_contents_are_input_errors_naming_file_roi_and_tag(written, case):
    change, message = BROKEN[case]
    broken = _edit(written, change)
    with pytest.raises(InputError, match=message) as info:
        read_rtstruct(broken)
    assert str(info.value).startswith(str(broken))


def test_not_an_rtstruct(written, tmp_path):
    text = tmp_path / "notes.dcm"
    text.write_text("this is not DICOM")
    with pytest.raises(InputError, match="not a DICOM file"):
        read_rtstruct(text)
    ct_slice = next((tmp_path / "ct").glob("*.dcm"))
    with pytest.raises(InputError, match="is a CT image.*expected an RT Structure Set"):
        read_rtstruct(ct_slice)
    with pytest.raises(InputError, match="RT Ion Plan.*expected an RT Structure Set"):
        read_rtstruct(PLAN02)
    with pytest.raises(InputError, match="no such file"):
        read_rtstruct(tmp_path / "missing.dcm")


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9])
def test_truncated_file_is_an_input_error(written, fraction):
    data = written.read_bytes()
    cut = written.with_name("truncated.dcm")
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(InputError) as info:
        read_rtstruct(cut)
    assert str(cut) in str(info.value)
