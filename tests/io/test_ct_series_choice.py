"""Folders with several CT series: listing them, choosing by reference, orientation and compressed pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import JPEG2000Lossless, RLELossless

from braggdesk.errors import InputError
from braggdesk.io.dicom_ct import list_ct_series, read_ct_series, referenced_ct_series_uid, write_ct_series
from braggdesk.io.uids import RT_STRUCTURE_SET_STORAGE, new_dataset
from braggdesk.model import Volume

DATA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
QA = DATA / "pymchelper-qa-pattern" / "RN.1.2.246.352.71.5.361940808526.37240.20200311150225.dcm"
FOR_A, FOR_B = "1.2.826.0.1.3680043.8.498.501", "1.2.826.0.1.3680043.8.498.502"


def _volume(series: str, frame: str = FOR_A, shape=(5, 6, 7), direction=None) -> Volume:
    hu = np.random.default_rng(len(series)).integers(-1000, 2000, size=shape).astype(np.float32)
    return Volume(values=hu, spacing_mm=(1.5, 1.25, 2.0), origin_mm=(-4.0, 7.0, -20.0),
                  direction=np.eye(3) if direction is None else direction, frame_of_reference_uid=frame,
                  series_instance_uid=series, study_instance_uid="1.2.826.0.1.3680043.8.498.500")


def _structure_set(path: Path, series_uid: str, frame: str, sop_uid: str) -> Path:
    ds = new_dataset(RT_STRUCTURE_SET_STORAGE, sop_uid)
    ds.Modality = "RTSTRUCT"
    ds.FrameOfReferenceUID = frame
    series, study, ref = Dataset(), Dataset(), Dataset()
    series.SeriesInstanceUID = series_uid
    study.RTReferencedSeriesSequence = [series]
    ref.FrameOfReferenceUID = frame
    ref.RTReferencedStudySequence = [study]
    ds.ReferencedFrameOfReferenceSequence = [ref]
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def test_listing_a_folder_with_several_series_and_other_files(tmp_path):
    write_ct_series(_volume("1.2.826.0.1.3680043.8.498.11"), tmp_path / "a", series_description="planning CT")
    write_ct_series(_volume("1.2.826.0.1.3680043.8.498.12", shape=(3, 4, 4)), tmp_path / "deep" / "b")
    broken = write_ct_series(_volume("1.2.826.0.1.3680043.8.498.13", shape=(6, 2, 2)), tmp_path / "c")
    broken[2].unlink()  # one slice missing
    (tmp_path / "a" / "README.txt").write_text("export notes")
    series = list_ct_series(tmp_path)
    assert [s.n_slices for s in series] == [5, 5, 3]
    a = next(s for s in series if s.series_instance_uid.endswith(".11"))
    assert a.size == (7, 6, 5) and a.spacing_mm == pytest.approx((1.5, 1.25, 2.0))
    assert a.description == "planning CT" and a.orientation == "axial" and a.problems == () and a.notes == ()
    assert a.folder == tmp_path / "a" and a.frame_of_reference_uid == FOR_A
    c = next(s for s in series if s.series_instance_uid.endswith(".13"))
    assert c.spacing_mm is None and "a slice is missing" in c.problems[0]


def test_series_chosen_by_what_a_structure_set_or_plan_references(tmp_path):
    write_ct_series(_volume("1.2.826.0.1.3680043.8.498.21"), tmp_path / "a")
    write_ct_series(_volume("1.2.826.0.1.3680043.8.498.22", shape=(4, 6, 7)), tmp_path / "b")
    rs = _structure_set(tmp_path / "RS.dcm", "1.2.826.0.1.3680043.8.498.22", FOR_A, "1.2.826.0.1.3680043.8.498.29")
    with pytest.raises(InputError, match="holds 2 CT series"):
        read_ct_series(tmp_path)
    assert read_ct_series(tmp_path, referenced_by=rs).shape == (4, 6, 7)
    if QA.exists():  # the plan names the structure set, which names the series
        plan = pydicom.dcmread(QA)
        plan.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.29"
        plan.FrameOfReferenceUID = FOR_A
        plan.save_as(tmp_path / "RN.dcm")
        assert referenced_ct_series_uid(tmp_path, tmp_path / "RN.dcm") == "1.2.826.0.1.3680043.8.498.22"
        plan.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID = "9.9.9"  # structure set not in the folder
        plan.save_as(tmp_path / "RN.dcm")
        with pytest.raises(InputError, match="2 CT series .* share its frame of reference"):
            referenced_ct_series_uid(tmp_path, tmp_path / "RN.dcm")


def test_series_chosen_by_frame_of_reference(tmp_path):
    write_ct_series(_volume("1.2.826.0.1.3680043.8.498.31", frame=FOR_A), tmp_path / "a")
    write_ct_series(_volume("1.2.826.0.1.3680043.8.498.32", frame=FOR_B), tmp_path / "b")
    rs = _structure_set(tmp_path / "RS.dcm", "1.2.826.0.1.3680043.8.498.99", FOR_B, "1.2.826.0.1.3680043.8.498.39")
    assert referenced_ct_series_uid(tmp_path, rs) == "1.2.826.0.1.3680043.8.498.32"
    other = _structure_set(tmp_path / "RS2.dcm", "1.2.826.0.1.3680043.8.498.99", "1.2.3.4", "1.2.826.0.1.3680043.8.4")
    with pytest.raises(InputError, match="no CT series"):
        read_ct_series(tmp_path, referenced_by=other)


@pytest.mark.parametrize("name, direction", [
    ("coronal", np.column_stack([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])),
    ("sagittal", np.column_stack([[0, 1.0, 0], [0, 0, -1.0], [-1.0, 0, 0]])),
    ("oblique", np.column_stack([[1.0, 0, 0], [0, np.cos(0.3), np.sin(0.3)], [0, -np.sin(0.3), np.cos(0.3)]])),
])
def test_non_axial_series_read_and_are_reported(tmp_path, name, direction):
    volume = _volume("1.2.826.0.1.3680043.8.498.41", direction=direction)
    write_ct_series(volume, tmp_path)
    back = read_ct_series(tmp_path)
    np.testing.assert_allclose(back.direction, direction, atol=1e-6)
    np.testing.assert_allclose(back.values, volume.hu)
    (info,) = list_ct_series(tmp_path)
    assert info.orientation == name and f"{name} slices (not axial)" in info.notes[0]


@pytest.mark.parametrize("syntax", [JPEG2000Lossless, RLELossless], ids=lambda s: s.name)
def test_compressed_series_decode_to_the_same_hu(tmp_path, syntax):
    volume = _volume("1.2.826.0.1.3680043.8.498.51", shape=(3, 40, 36))  # JPEG 2000 needs 32+ pixels a side
    for path in write_ct_series(volume, tmp_path):
        ds = pydicom.dcmread(path)
        ds.compress(syntax)
        ds.save_as(path)
    assert pydicom.dcmread(next(tmp_path.glob("*.dcm"))).file_meta.TransferSyntaxUID == syntax
    np.testing.assert_array_equal(read_ct_series(tmp_path).hu, volume.hu)
    (info,) = list_ct_series(tmp_path)
    assert info.notes == (f"compressed pixel data ({syntax.name})",)


def test_pydicom_ct_sample_applies_rescale(tmp_path):
    source = get_testdata_file("CT_small.dcm", download=False)
    if source is None:
        pytest.skip("pydicom's test files are not installed")
    ds = pydicom.dcmread(source)
    ds.save_as(tmp_path / "CT_small.dcm")
    volume = read_ct_series(tmp_path)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(volume.hu[0], expected)
    assert volume.spacing_mm[2] == pytest.approx(float(ds.SliceThickness))
