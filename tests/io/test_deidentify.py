"""De-identification: what braggdesk writes carries no patient identity unless asked to."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from braggdesk.errors import InputError
from braggdesk.io.deidentify import (PatientIdentity, deidentify, finalize_identity, pseudonym,
                                     read_patient_identity)
from braggdesk.io.dicom_ct import write_ct_series
from braggdesk.io.rtdose import write_rtdose
from braggdesk.model import Volume

DATA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
PLAN01 = DATA / "dcpt-let-2022" / "plans" / "plan01_sobp_eclipse" / \
    "RN.1.2.246.352.71.5.37402163639.178319.20221207095327.dcm"

JANE = PatientIdentity(patient_name="DOE^JANE", patient_id="PID-778899", patient_birth_date="19610412",
                       patient_sex="F", study_date="20240105", study_time="101500", study_id="S42",
                       accession_number="ACC-5511", referring_physician_name="HOUSE^GREGORY")
SECRETS = [b"DOE^JANE", b"PID-778899", b"19610412", b"ACC-5511", b"HOUSE", b"Rigshospital", b"20240105"]


def _volume() -> Volume:
    return Volume(values=np.zeros((3, 4, 5), dtype=np.float32), spacing_mm=(2.0, 2.0, 3.0), origin_mm=(0.0, 0.0, 0.0),
                  frame_of_reference_uid="1.2.826.0.1.3680043.8.498.31", series_instance_uid="1.2.826.0.1.3680043.8.498.32",
                  study_instance_uid="1.2.826.0.1.3680043.8.498.33", description="DOE JANE head 3mm")


def _identified_source(tmp_path: Path) -> Path:
    """A CT series as a hospital would export it: identified, with institution and dates."""
    paths = write_ct_series(_volume(), tmp_path / "ct", identity=JANE, identified=True)
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.InstitutionName = "Rigshospital"
        ds.OperatorsName = "HOUSE^GREGORY"
        ds.save_as(path)
    return tmp_path / "ct"


def test_written_files_are_deidentified_by_default(tmp_path):
    ct_folder = _identified_source(tmp_path)
    identity = read_patient_identity(ct_folder)
    assert identity.patient_id == "PID-778899" and "DOE" not in repr(identity) and "DOE" not in str(identity)
    volume = _volume()
    ct_paths = write_ct_series(volume, tmp_path / "out_ct")
    dose_path = write_rtdose(np.ones(volume.shape), volume, tmp_path / "RD.dcm", ct=volume)
    for path in [*ct_paths, dose_path]:
        raw = path.read_bytes()
        for secret in SECRETS + [b"DOE JANE"]:  # the volume's description came from the source: not written
            assert secret not in raw, (path.name, secret)
        ds = pydicom.dcmread(path)
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.PatientName == ds.PatientID == pseudonym(volume.study_instance_uid)  # CT and dose file together
        assert ds.StudyInstanceUID == volume.study_instance_uid  # UIDs retained: the dose still lines up
        assert ds.FrameOfReferenceUID == volume.frame_of_reference_uid
        assert ds.PatientBirthDate == "" and ds.StudyDate == ""
        codes = {item.CodeValue for item in ds.DeidentificationMethodCodeSequence}
        assert codes == {"113100", "113110"}


def test_identified_output_only_on_request(tmp_path):
    identity = read_patient_identity(_identified_source(tmp_path))
    volume = _volume()
    path = write_rtdose(np.ones(volume.shape), volume, tmp_path / "RD.dcm", ct=volume, identity=identity,
                        identified=True)
    ds = pydicom.dcmread(path)
    assert (str(ds.PatientName), ds.PatientID, ds.PatientBirthDate, ds.StudyDate) == \
        ("DOE^JANE", "PID-778899", "19610412", "20240105")
    assert ds.PatientIdentityRemoved == "NO"
    # an identity passed without identified=True is not written
    quiet = pydicom.dcmread(write_rtdose(np.ones(volume.shape), volume, tmp_path / "RD2.dcm", identity=identity))
    assert quiet.PatientID != "PID-778899"
    with pytest.raises(ValueError, match="identity"):
        write_rtdose(np.ones(volume.shape), volume, tmp_path / "RD3.dcm", identified=True)


@pytest.mark.skipif(not PLAN01.exists(), reason="shared data sets not available")
def test_a_real_eclipse_plan_is_cleaned_everywhere(tmp_path):
    ds = pydicom.dcmread(PLAN01)
    secrets = {str(ds.PatientName), str(ds.PatientID)} - {""}
    assert any(e.VR == "DA" and e.value for e in ds.iterall())
    deidentify(ds)
    out = tmp_path / "RN.dcm"
    ds.save_as(out)
    back = pydicom.dcmread(out)
    text = repr(back)
    for secret in secrets:
        assert secret not in text
    assert not [e for e in back.iterall() if e.VR in ("DA", "DT", "TM") and e.value]  # (UIDs may hold dates)
    assert not any(e.tag.is_private for e in back.iterall())
    assert back.SOPInstanceUID == pydicom.dcmread(PLAN01, stop_before_pixels=True).SOPInstanceUID


def test_dates_shifted_instead_of_removed():
    ds = Dataset()
    ds.StudyInstanceUID = "1.2.3"
    ds.StudyDate = "20240105"
    ds.AcquisitionDateTime = "20240105101500.000"
    ds.StudyTime = "101500"
    item = Dataset()
    item.ReviewDate = "20240106"  # removed (X), even inside a sequence
    item.TreatmentDate = "20240107"
    ds.TreatmentSessionIonBeamSequence = [item]
    finalize_identity(ds, date_shift_days=-30)
    assert ds.StudyDate == "20231206" and ds.AcquisitionDateTime == "20231206101500.000"
    assert ds.StudyTime == "101500"  # times stay when dates are shifted
    assert "ReviewDate" not in ds.TreatmentSessionIonBeamSequence[0]
    assert ds.TreatmentSessionIonBeamSequence[0].TreatmentDate == "20231208"
    assert "113107" in {i.CodeValue for i in ds.DeidentificationMethodCodeSequence}


def test_identity_from_a_folder_without_dicom(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing")
    with pytest.raises(InputError, match="no DICOM file with a PatientName"):
        read_patient_identity(tmp_path)
    with pytest.raises(InputError, match="no such file or folder"):
        read_patient_identity(tmp_path / "missing")
