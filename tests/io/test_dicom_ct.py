"""CT series reading and writing: round trips, and the broken folders a user will meet."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from braggdesk.errors import InputError
from braggdesk.io.deidentify import PatientIdentity
from braggdesk.io.dicom_ct import read_ct_series, write_ct_series
from braggdesk.model import Volume

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
PLAN02 = DATA / "dcpt-let-2022" / "plans" / "plan02_mono_eclipse" / "RN.1.2.246.352.71.5.37402163639.178320.20221207095327.dcm"
JANE = PatientIdentity(patient_name="DOE^JANE", patient_id="ID-12345", patient_birth_date="19700101")


def _volume(shape=(6, 5, 4), **kwargs) -> Volume:
    rng = np.random.default_rng(7)
    hu = rng.integers(-1000, 2500, size=shape).astype(np.float32) + rng.uniform(-0.4, 0.4, size=shape).astype(np.float32)
    defaults = dict(spacing_mm=(1.25, 0.8, 2.5), origin_mm=(-12.5, 33.2, -101.75),
                    frame_of_reference_uid="1.2.826.0.1.3680043.8.498.1001",
                    series_instance_uid="1.2.826.0.1.3680043.8.498.1002",
                    study_instance_uid="1.2.826.0.1.3680043.8.498.1003", patient_position="HFS",
                    description="test series")
    defaults.update(kwargs)
    return Volume(values=hu, **defaults)


def test_round_trip_keeps_hu_geometry_and_uids(tmp_path):
    volume = _volume()
    paths = write_ct_series(volume, tmp_path, identity=JANE, identified=True)
    assert len(paths) == volume.shape[0]
    back = read_ct_series(tmp_path)
    assert back.values.dtype == np.float32
    assert back.shape == volume.shape
    assert np.max(np.abs(back.values - volume.hu)) <= 0.5
    assert back.spacing_mm == pytest.approx(volume.spacing_mm, abs=1e-6)
    assert back.origin_mm == pytest.approx(volume.origin_mm, abs=1e-6)
    np.testing.assert_allclose(back.direction, np.eye(3), atol=1e-9)
    assert back.frame_of_reference_uid == volume.frame_of_reference_uid
    assert back.series_instance_uid == volume.series_instance_uid
    assert back.study_instance_uid == volume.study_instance_uid
    assert back.patient_position == "HFS"


def test_volume_holds_no_patient_identity(tmp_path):
    write_ct_series(_volume(), tmp_path, identity=JANE, identified=True)
    back = read_ct_series(tmp_path)
    text = repr({f.name: getattr(back, f.name) for f in dataclasses.fields(back) if f.name != "hu"})
    assert "DOE" not in text and "ID-12345" not in text


def test_written_files_are_ct_image_storage_with_consistent_pixels(tmp_path):
    paths = write_ct_series(_volume(), tmp_path)
    ds = pydicom.dcmread(paths[0])
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.BitsAllocated == 16
    assert ds.pixel_array.dtype == (np.int16 if ds.PixelRepresentation == 1 else np.uint16)
    assert [float(v) for v in ds.PixelSpacing] == [0.8, 1.25]  # [row spacing, column spacing]
    sop_uids = {pydicom.dcmread(p).SOPInstanceUID for p in paths}
    assert len(sop_uids) == len(paths)


def test_missing_uids_are_generated_and_shared(tmp_path):
    volume = _volume(frame_of_reference_uid="", series_instance_uid="", study_instance_uid="")
    paths = write_ct_series(volume, tmp_path)
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in paths]
    assert len({h.FrameOfReferenceUID for h in headers}) == 1
    assert len({h.SeriesInstanceUID for h in headers}) == 1
    assert headers[0].FrameOfReferenceUID.startswith("1.2.")
    back = read_ct_series(tmp_path)
    assert back.frame_of_reference_uid == headers[0].FrameOfReferenceUID


@pytest.mark.parametrize("low, high", [(-3000, 1000), (-1000, 40000)])
def test_hu_outside_the_usual_window_survive(tmp_path, low, high):
    hu = np.linspace(low, high, 2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4).round()
    volume = Volume(values=hu, spacing_mm=(1, 1, 1), origin_mm=(0, 0, 0))
    write_ct_series(volume, tmp_path)
    np.testing.assert_allclose(read_ct_series(tmp_path).hu, hu, atol=0.5)


def test_flipped_axes_round_trip(tmp_path):
    # rows run towards -x, slices towards -z: the normal row x column is -z, slices follow it
    direction = np.diag([-1.0, 1.0, -1.0])
    volume = _volume(direction=direction)
    write_ct_series(volume, tmp_path)
    back = read_ct_series(tmp_path)
    np.testing.assert_allclose(back.direction, direction, atol=1e-9)
    assert back.origin_mm == pytest.approx(volume.origin_mm, abs=1e-6)
    assert np.max(np.abs(back.values - volume.hu)) <= 0.5


def test_slices_are_sorted_by_position_not_by_file_name(tmp_path):
    volume = _volume()
    paths = write_ct_series(volume, tmp_path)
    for i, p in enumerate(reversed(paths)):  # file names now run against the slice order
        p.rename(tmp_path / f"IMG{i:03d}.dcm")
    back = read_ct_series(tmp_path)
    assert np.max(np.abs(back.values - volume.hu)) <= 0.5


def test_single_slice_file_reads_its_series(tmp_path):
    paths = write_ct_series(_volume(), tmp_path / "ct")
    assert read_ct_series(paths[2]).shape == (6, 5, 4)


def test_recursive_scan_skips_non_dicom_files(tmp_path):
    write_ct_series(_volume(), tmp_path / "deep" / "ct")
    (tmp_path / "notes.txt").write_text("not DICOM")
    (tmp_path / "deep" / "DICOMDIR-like.bin").write_bytes(b"\x00" * 300)
    assert read_ct_series(tmp_path).shape == (6, 5, 4)


def test_missing_slice_is_located(tmp_path):
    volume = Volume(values=np.zeros((6, 3, 3)), spacing_mm=(1, 1, 2.0), origin_mm=(0, 0, 4.0))
    paths = write_ct_series(volume, tmp_path)
    paths[3].unlink()  # z = 4, 6, 8, [10], 12, 14
    with pytest.raises(InputError) as err:
        read_ct_series(tmp_path)
    message = str(err.value)
    assert str(tmp_path) in message
    assert "slice spacing 2 mm except a 4 mm gap between z=8 and z=12: a slice is missing" in message


def test_irregular_spacing_is_refused(tmp_path):
    paths = write_ct_series(Volume(values=np.zeros((5, 2, 2)), spacing_mm=(1, 1, 2.0), origin_mm=(0, 0, 0)), tmp_path)
    ds = pydicom.dcmread(paths[4])
    ds.ImagePositionPatient = [0, 0, 8.7]
    ds.save_as(paths[4])
    with pytest.raises(InputError, match="irregular slice spacing"):
        read_ct_series(tmp_path)


def test_duplicate_slice_is_refused(tmp_path):
    paths = write_ct_series(_volume(), tmp_path)
    shutil.copy(paths[1], tmp_path / "copy.dcm")
    with pytest.raises(InputError, match="two CT slices at z="):
        read_ct_series(tmp_path)


def test_several_series_need_a_choice(tmp_path):
    a = _volume(series_instance_uid="1.2.3.4.1", description="first")
    b = _volume(shape=(3, 5, 4), series_instance_uid="1.2.3.4.2", description="second")
    write_ct_series(a, tmp_path / "a", series_description="first")
    write_ct_series(b, tmp_path / "b", series_description="second")
    with pytest.raises(InputError) as err:
        read_ct_series(tmp_path)
    message = str(err.value)
    assert "2 CT series" in message
    assert "1.2.3.4.1 (6 slices, 'first')" in message and "1.2.3.4.2 (3 slices, 'second')" in message
    assert read_ct_series(tmp_path, series_instance_uid="1.2.3.4.2").shape == (3, 5, 4)
    with pytest.raises(InputError, match="no CT series 9.9.9"):
        read_ct_series(tmp_path, series_instance_uid="9.9.9")


def test_folder_without_ct_says_what_it_found(tmp_path):
    if not PLAN02.exists():
        pytest.skip("shared data not available")
    shutil.copy(PLAN02, tmp_path / "plan.dcm")
    (tmp_path / "readme.txt").write_text("hello")
    (tmp_path / "image.png").write_bytes(b"\x89PNG....")
    with pytest.raises(InputError) as err:
        read_ct_series(tmp_path)
    assert str(err.value) == f"{tmp_path}: 3 files, none a CT image; found RTPLAN x1, 2 non-DICOM files"


def test_empty_and_missing_folders(tmp_path):
    with pytest.raises(InputError, match="empty"):
        read_ct_series(tmp_path)
    with pytest.raises(InputError, match="no such folder"):
        read_ct_series(tmp_path / "nope")


def test_inconsistent_pixel_spacing_names_the_slice(tmp_path):
    paths = write_ct_series(_volume(), tmp_path)
    ds = pydicom.dcmread(paths[3])
    ds.PixelSpacing = [0.9, 1.25]
    ds.save_as(paths[3])
    with pytest.raises(InputError) as err:
        read_ct_series(tmp_path)
    assert paths[3].name in str(err.value) and "PixelSpacing" in str(err.value)


def test_inconsistent_orientation_is_refused(tmp_path):
    paths = write_ct_series(_volume(), tmp_path)
    ds = pydicom.dcmread(paths[0])
    ds.ImageOrientationPatient = [0, 1, 0, 1, 0, 0]
    ds.save_as(paths[0])
    with pytest.raises(InputError, match="ImageOrientationPatient"):
        read_ct_series(tmp_path)


def test_gantry_tilt_is_refused(tmp_path):
    paths = write_ct_series(Volume(values=np.zeros((4, 2, 2)), spacing_mm=(1, 1, 2), origin_mm=(0, 0, 0)), tmp_path)
    for k, p in enumerate(paths):
        ds = pydicom.dcmread(p)
        ds.ImagePositionPatient = [0, 0.5 * k, 2.0 * k]
        ds.save_as(p)
    with pytest.raises(InputError, match="tilt"):
        read_ct_series(tmp_path)


def test_writer_refuses_a_folder_with_other_dicom_files(tmp_path):
    write_ct_series(_volume(), tmp_path)
    write_ct_series(_volume(), tmp_path)  # the same names are overwritten
    with pytest.raises(InputError, match="choose an empty folder"):
        write_ct_series(_volume(shape=(3, 5, 4)), tmp_path / ".." / tmp_path.name)  # would leave CT0004..6
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.dcm").write_bytes(b"")
    with pytest.raises(InputError, match="choose an empty folder"):
        write_ct_series(_volume(), tmp_path / "other")


def test_writer_refuses_nan():
    volume = _volume()
    volume.hu[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_ct_series(volume, "unused")
