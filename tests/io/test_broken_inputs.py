"""A corpus of broken inputs, each built in tmp_path from a good file.

Every case must end in an exception of our own (BraggdeskError) whose message
names the file (or folder) and says what is wrong; a few go through
``python -m braggdesk`` to check the command prints one line and exits 2.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pydicom
import pytest

from braggdesk.engine.simulate import check_frame_of_reference
from braggdesk.errors import BraggdeskError
from braggdesk.io.beam_model_reader import read_beam_model
from braggdesk.io.ct_calibration import read_ct_calibration
from braggdesk.io.dicom_ct import read_ct_series, write_ct_series
from braggdesk.io.inventory import scan
from braggdesk.io.rtdose import check_dose_grid_on_ct, read_rtdose, write_rtdose
from braggdesk.io.rtplan import read_rt_ion_plan
from braggdesk.model import Job, Volume

DATA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
QA = DATA / "pymchelper-qa-pattern" / "RN.1.2.246.352.71.5.361940808526.37240.20200311150225.dcm"

pytestmark = pytest.mark.skipif(not QA.exists(), reason="shared data sets not available")


def _ct(folder: Path, n: int = 5) -> list[Path]:
    hu = np.random.default_rng(1).integers(-1000, 1500, size=(n, 8, 8)).astype(np.float32)
    volume = Volume(values=hu, spacing_mm=(2.0, 2.0, 3.0), origin_mm=(-7.0, -7.0, -6.0),
                    frame_of_reference_uid="1.2.826.0.1.3680043.8.498.901",
                    series_instance_uid="1.2.826.0.1.3680043.8.498.902")
    return write_ct_series(volume, folder)


def _edit_slice(path: Path, edit: Callable[[pydicom.Dataset], None]) -> None:
    ds = pydicom.dcmread(path)
    edit(ds)
    ds.save_as(path)


def _plan(tmp_path: Path, edit: Callable[[pydicom.Dataset], None]) -> Path:
    ds = pydicom.dcmread(QA)
    edit(ds)
    out = tmp_path / "RN_edited.dcm"
    ds.save_as(out)
    return out


def _dose(tmp_path: Path, edit: Callable[[pydicom.Dataset], None] | None = None) -> Path:
    grid = Volume(values=np.zeros((4, 5, 6)), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(0.0, 0.0, 0.0))
    path = write_rtdose(np.random.default_rng(2).uniform(0, 2, size=(4, 5, 6)), grid, tmp_path / "RD.dcm")
    if edit is not None:
        _edit_slice(path, edit)
    return path


# --- CT series -------------------------------------------------------------------------------

def ct_truncated_slice(tmp):
    paths = _ct(tmp / "ct")
    paths[2].write_bytes(paths[2].read_bytes()[:-50])
    return lambda: read_ct_series(tmp / "ct"), paths[2].name, "Pixel Data (7FE0,0010)"  # found cut short before decoding now


def ct_header_cut(tmp):
    paths = _ct(tmp / "ct")
    paths[4].write_bytes(paths[4].read_bytes()[:400])
    return lambda: read_ct_series(tmp / "ct"), paths[4].name, "truncated or corrupt"


def ct_only_non_dicom(tmp):
    (tmp / "ct").mkdir()
    (tmp / "ct" / "CT0001.dcm").write_text("patient list, not an image")
    return lambda: read_ct_series(tmp / "ct"), "ct", "none a CT image; found 1 non-DICOM file"


def ct_missing_pixel_data(tmp):
    paths = _ct(tmp / "ct")
    _edit_slice(paths[1], lambda ds: delattr(ds, "PixelData"))
    return lambda: read_ct_series(tmp / "ct"), paths[1].name, "no Pixel Data"


def ct_missing_position(tmp):
    paths = _ct(tmp / "ct")
    _edit_slice(paths[3], lambda ds: delattr(ds, "ImagePositionPatient"))
    return lambda: read_ct_series(tmp / "ct"), paths[3].name, "no ImagePositionPatient"


def ct_duplicate_slice(tmp):
    paths = _ct(tmp / "ct")
    copy = tmp / "ct" / "CT0002_copy.dcm"
    copy.write_bytes(paths[1].read_bytes())
    _edit_slice(copy, lambda ds: setattr(ds, "SOPInstanceUID", pydicom.uid.generate_uid()))
    return lambda: read_ct_series(tmp / "ct"), "ct", "duplicate slice"


def ct_mixed_frames(tmp):
    paths = _ct(tmp / "ct")
    _edit_slice(paths[2], lambda ds: setattr(ds, "FrameOfReferenceUID", "1.2.3.4.5"))
    return lambda: read_ct_series(tmp / "ct"), paths[2].name, "FrameOfReferenceUID 1.2.3.4.5 differs"


def ct_missing_slice(tmp):
    paths = _ct(tmp / "ct", n=6)
    paths[3].unlink()
    return lambda: read_ct_series(tmp / "ct"), "ct", "a slice is missing"


def ct_gantry_tilt(tmp):
    paths = _ct(tmp / "ct")
    for k, path in enumerate(paths):
        _edit_slice(path, lambda ds, k=k: setattr(ds, "ImagePositionPatient", [-7.0, -7.0 + 1.5 * k, -6.0 + 3.0 * k]))
    return lambda: read_ct_series(tmp / "ct"), "ct", "gantry-tilted"


def ct_wrong_modality(tmp):
    plan = tmp / "RN.dcm"
    plan.write_bytes(QA.read_bytes())
    return lambda: read_ct_series(plan), plan.name, "is an RT Ion Plan, expected a CT image"


def ct_different_matrix(tmp):
    paths = _ct(tmp / "ct")
    _edit_slice(paths[0], lambda ds: (setattr(ds, "Rows", 4), setattr(ds, "PixelData", ds.PixelData[:64])))
    return lambda: read_ct_series(tmp / "ct"), "CT0002.dcm", "slices of one series must have one size"


# --- RT Ion Plan -----------------------------------------------------------------------------

def plan_not_dicom(tmp):
    path = tmp / "RN.dcm"
    path.write_text("Plan: 2 Gy x 30\n")
    return lambda: read_rt_ion_plan(path), path.name, "is not a DICOM file"


def plan_truncated(tmp):
    path = tmp / "RN.dcm"
    path.write_bytes(QA.read_bytes()[:5000])  # pydicom reads the first beam and stops without a word; we see the cut
    return lambda: read_rt_ion_plan(path), path.name, "IonBeamSequence (300A,03A2) declares 15958 bytes but the file ends"


def plan_header_only(tmp):
    path = tmp / "RN.dcm"
    path.write_bytes(QA.read_bytes()[:300])
    return lambda: read_rt_ion_plan(path), path.name, "holds no SOP Class UID"


def plan_is_a_dose(tmp):
    path = _dose(tmp)
    return lambda: read_rt_ion_plan(path), path.name, "is an RT Dose (SOP Class UID"


def plan_zero_weight_layers_only(tmp):
    def edit(ds):
        for beam in ds.IonBeamSequence:
            for cp in beam.IonControlPointSequence:
                cp.ScanSpotMetersetWeights = [0.0] * int(cp.NumberOfScanSpotPositions)
    path = _plan(tmp, edit)
    return lambda: read_rt_ion_plan(path), path.name, "holds no treatment beam with scanned spots"


def plan_nan_weight(tmp):
    def edit(ds):
        cp = ds.IonBeamSequence[2].IonControlPointSequence[0]
        weights = [float(w) for w in cp.ScanSpotMetersetWeights]
        weights[7] = float("nan")
        cp.ScanSpotMetersetWeights = weights
    path = _plan(tmp, edit)
    # the tag and the value are named where they are read
    return lambda: read_rt_ion_plan(path), path.name, "beam 'Field_3', control point 0: ScanSpotMetersetWeights (300A,0396)"


def plan_negative_weight(tmp):
    def edit(ds):
        cp = ds.IonBeamSequence[0].IonControlPointSequence[0]
        cp.ScanSpotMetersetWeights = [-1.0] + [float(w) for w in cp.ScanSpotMetersetWeights][1:]
    path = _plan(tmp, edit)
    return lambda: read_rt_ion_plan(path), path.name, "negative or non-finite ScanSpotMetersetWeights"


def plan_without_beams(tmp):
    path = _plan(tmp, lambda ds: delattr(ds, "IonBeamSequence"))
    return lambda: read_rt_ion_plan(path), path.name, "has no IonBeamSequence"


def plan_without_isocenter(tmp):
    path = _plan(tmp, lambda ds: delattr(ds.IonBeamSequence[0].IonControlPointSequence[0], "IsocenterPosition"))
    return lambda: read_rt_ion_plan(path), path.name, "no IsocenterPosition"


def plan_without_energy(tmp):
    path = _plan(tmp, lambda ds: delattr(ds.IonBeamSequence[1].IonControlPointSequence[0], "NominalBeamEnergy"))
    return lambda: read_rt_ion_plan(path), path.name, "spots before any NominalBeamEnergy"


def plan_arc(tmp):
    path = _plan(tmp, lambda ds: setattr(ds.IonBeamSequence[0].IonControlPointSequence[1], "GantryAngle", 30.0))
    return lambda: read_rt_ion_plan(path), path.name, "arc delivery"


def plan_on_another_ct(tmp):
    _ct(tmp / "ct")
    ct = read_ct_series(tmp / "ct")
    plan = read_rt_ion_plan(QA)
    job = Job.create(ct, plan, read_beam_model(None), read_ct_calibration("water"))
    return lambda: check_frame_of_reference(job), plan.frame_of_reference_uid, "differs from the CT's"


# --- RT Dose ---------------------------------------------------------------------------------

def dose_without_scaling(tmp):
    path = _dose(tmp, lambda ds: delattr(ds, "DoseGridScaling"))
    return lambda: read_rtdose(path), path.name, "no DoseGridScaling"


def dose_without_pixels(tmp):
    path = _dose(tmp, lambda ds: delattr(ds, "PixelData"))
    return lambda: read_rtdose(path), path.name, "no PixelData"


def dose_offsets_do_not_match_frames(tmp):
    path = _dose(tmp, lambda ds: setattr(ds, "GridFrameOffsetVector", [0, 2, 4]))
    return lambda: read_rtdose(path), path.name, "GridFrameOffsetVector (3004,000C) has 3 values for 4 frames"


def dose_pixels_cut(tmp):
    path = _dose(tmp, lambda ds: setattr(ds, "PixelData", ds.PixelData[:100]))
    return lambda: read_rtdose(path), path.name, "the header and the pixels disagree"  # checked before decoding now


def dose_is_a_ct(tmp):
    paths = _ct(tmp / "ct")
    return lambda: read_rtdose(paths[0]), paths[0].name, "is a CT image"


def dose_outside_the_ct(tmp):
    _ct(tmp / "ct")
    ct = read_ct_series(tmp / "ct")
    path = _dose(tmp, lambda ds: setattr(ds, "ImagePositionPatient", [400.0, 0.0, 0.0]))
    dose = read_rtdose(path)
    dose.frame_of_reference_uid = ct.frame_of_reference_uid
    return lambda: check_dose_grid_on_ct(dose, ct, path), path.name, "lies outside the CT"


CASES = [ct_truncated_slice, ct_header_cut, ct_only_non_dicom, ct_missing_pixel_data, ct_missing_position,
         ct_duplicate_slice, ct_mixed_frames, ct_missing_slice, ct_gantry_tilt, ct_wrong_modality,
         ct_different_matrix, plan_not_dicom, plan_truncated, plan_header_only, plan_is_a_dose, plan_zero_weight_layers_only,
         plan_nan_weight, plan_negative_weight, plan_without_beams, plan_without_isocenter, plan_without_energy,
         plan_arc, plan_on_another_ct, dose_without_scaling, dose_without_pixels, dose_offsets_do_not_match_frames,
         dose_pixels_cut, dose_is_a_ct, dose_outside_the_ct]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_broken_input_is_our_error_naming_the_file_and_problem(tmp_path, case):
    load, names, problem = case(tmp_path)
    with pytest.raises(BraggdeskError) as err:
        load()
    message = str(err.value)
    assert names in message, message
    assert problem in message, message
    assert "\n" not in message.strip()


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 20


def test_inventory_lists_broken_files_instead_of_stopping(tmp_path):
    _ct(tmp_path / "ct")
    plan_nan_weight(tmp_path)
    (tmp_path / "RN.dcm").write_bytes(QA.read_bytes()[:300])  # only the file meta survives
    (tmp_path / "notes.dcm").write_text("not DICOM")
    inventory = scan(tmp_path)
    assert len(inventory.ct_series) == 1 and inventory.ct_series[0].problems == ()
    assert inventory.unreadable_files == ["RN.dcm"] and inventory.non_dicom_files == 1
    (plan,) = inventory.plans
    assert "nan is not a finite number" in plan.problem


# --- through the command line ----------------------------------------------------------------

def _braggdesk(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "braggdesk", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("case", [ct_duplicate_slice, plan_nan_weight, ct_missing_pixel_data],
                         ids=lambda c: c.__name__)
def test_cli_run_prints_one_line_and_exits_2(tmp_path, case):
    _, names, problem = case(tmp_path)
    if not (tmp_path / "ct").exists():
        _ct(tmp_path / "ct")
    plan = tmp_path / "RN_edited.dcm" if (tmp_path / "RN_edited.dcm").exists() else QA
    res = _braggdesk("run", "--ct", tmp_path / "ct", "--plan", plan, "--primaries", "100",
                     "--ignore-frame-of-reference", "--out", tmp_path / "RD_out.dcm")
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    (line,) = [line for line in res.stderr.splitlines() if line.strip()]
    assert line.startswith("braggdesk run: error: ") and names in line and problem in line


def test_cli_info_on_a_missing_path(tmp_path):
    res = _braggdesk("info", tmp_path / "nowhere")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == f"braggdesk info: error: {tmp_path / 'nowhere'}: no such file or folder"


def test_cli_run_picks_the_series_the_plan_refers_to(tmp_path):
    """Two series in --ct; the plan's frame of reference names one; a refusal would list both."""
    _ct(tmp_path / "ct" / "a")
    hu = np.zeros((3, 8, 8), dtype=np.float32)
    write_ct_series(Volume(values=hu, spacing_mm=(2.0, 2.0, 3.0), origin_mm=(0, 0, 0), frame_of_reference_uid="1.2.3.999",
                           series_instance_uid="1.2.826.0.1.3680043.8.498.903"), tmp_path / "ct" / "b")
    plan = _plan(tmp_path, lambda ds: setattr(ds, "FrameOfReferenceUID", "1.2.3.999"))
    plan_ds = pydicom.dcmread(plan)
    for beam in plan_ds.IonBeamSequence:  # one cheap spot per beam, so the run takes a second
        for cp in beam.IonControlPointSequence:
            cp.NumberOfScanSpotPositions = 1
            cp.ScanSpotPositionMap = [0.0, 0.0]
            cp.ScanSpotMetersetWeights = [float(cp.ScanSpotMetersetWeights[0])]
    plan_ds.save_as(plan)
    res = _braggdesk("run", "--ct", tmp_path / "ct", "--plan", plan, "--primaries", "200", "--batches", "1",
                     "--ct-calibration", "water", "--out", tmp_path / "RD_out.dcm")
    assert res.returncode == 0, res.stderr
    assert pydicom.dcmread(tmp_path / "RD_out.dcm").FrameOfReferenceUID == "1.2.3.999"
