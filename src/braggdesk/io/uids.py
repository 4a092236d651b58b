"""What a DICOM file is, and the identity every file braggdesk writes carries.

Shared by the CT, RT Ion Plan and RT Dose modules so that each of them

* opens a file the same way and, when it is not what the caller expected,
  says what it is instead ("is an RT Dose, expected an RT Ion Plan");
* writes files with the same file meta, new UIDs and patient/study header,
  and gridded objects (CT slices, RT Dose) with the same image plane and
  pixel description.

UIDs come from :func:`pydicom.uid.generate_uid` (pydicom's registered root).
Given ``entropy`` the UID is a hash of it, so a built-in phantom rebuilt with
the same parameters keeps its frame of reference and a plan made for it stays valid.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import format_number_as_ds

from braggdesk._version import __version__
from braggdesk.errors import InputError

T = TypeVar("T")

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"
RT_DOSE_STORAGE = "1.2.840.10008.5.1.4.1.1.481.2"
RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
RT_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.5"
RT_ION_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.8"
RT_ION_BEAMS_TREATMENT_RECORD_STORAGE = "1.2.840.10008.5.1.4.1.1.481.9"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"

_NAMES = {
    CT_IMAGE_STORAGE: "a CT image",
    ENHANCED_CT_IMAGE_STORAGE: "an Enhanced CT image",
    RT_DOSE_STORAGE: "an RT Dose",
    RT_STRUCTURE_SET_STORAGE: "an RT Structure Set",
    RT_PLAN_STORAGE: "an RT Plan (photon/electron, not ion)",
    RT_ION_PLAN_STORAGE: "an RT Ion Plan",
    RT_ION_BEAMS_TREATMENT_RECORD_STORAGE: "an RT Ion Beams Treatment Record",
    MR_IMAGE_STORAGE: "an MR image",
    MEDIA_STORAGE_DIRECTORY: "a DICOMDIR",
}

IMPLEMENTATION_VERSION_NAME = "BRAGGDESK"


def sop_class_description(uid: str) -> str:
    """'an RT Dose' for an RT Dose SOP class UID; pydicom's name or the UID otherwise."""
    uid = str(uid or "")
    if uid in _NAMES:
        return _NAMES[uid]
    name = pydicom.uid.UID(uid).name if uid else ""
    if name and name != uid:
        return f"a '{name}' object"
    return f"an object of SOP class {uid or '(none)'}"


def sop_class_of(ds: Dataset) -> str:
    """SOPClassUID of a dataset, falling back to the file meta's MediaStorageSOPClassUID."""
    uid = ds.get("SOPClassUID")
    if not uid and getattr(ds, "file_meta", None) is not None:
        uid = ds.file_meta.get("MediaStorageSOPClassUID")
    return str(uid or "")


def read_dicom(path: str | Path, expected_sop_class: str, stop_before_pixels: bool = False) -> Dataset:
    """Open one DICOM file and check its SOP class; every failure is an InputError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file" if not path.exists() else "is a folder, expected a DICOM file")
    expected = sop_class_description(expected_sop_class)
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError as exc:
        raise InputError(path, f"is not a DICOM file (no 'DICM' marker after the 128-byte preamble); "
                               f"expected {expected}") from exc
    except Exception as exc:  # truncated or corrupt files raise many kinds of errors in pydicom
        raise InputError(path, f"cannot be read as DICOM ({type(exc).__name__}: {exc}); expected {expected}") from exc
    found = sop_class_of(ds)
    if not found or len(ds) == 0:
        raise InputError(path, f"holds no SOP Class UID (0008,0016) (a truncated header?); expected {expected}")
    cut = _cut_short(path)
    if cut:
        raise InputError(path, f"{cut}: a truncated copy of {expected}, which pydicom reads without a word; copy "
                               f"or export it again")
    if found != expected_sop_class:
        raise InputError(path, f"is {sop_class_description(found)} (SOP Class UID (0008,0016) {found or 'missing'}), "
                               f"expected {expected} ({expected_sop_class})")
    return ds


def _cut_short(path: Path) -> str:
    """Why the file ends before its last element does ('' when it does not).

    pydicom stops quietly at the end of the file, so a copy cut off inside a long
    sequence (the IonBeamSequence of a plan, say) reads as a plan with fewer
    control points.  A second, cheap pass with the values deferred keeps each
    top-level element's declared length and position, which must fit in the file.
    """
    size = path.stat().st_size
    try:
        ds = pydicom.dcmread(path, defer_size=256)
    except Exception:  # the first read succeeded; a failure here says nothing more
        return ""
    for tag in ds.keys():
        element = ds.get_item(tag, keep_deferred=True)
        tell, length = getattr(element, "value_tell", None), getattr(element, "length", None)
        if tell is not None and length is not None and length != 0xFFFFFFFF and tell + length > size:
            keyword = getattr(element, "keyword", "") or pydicom.datadict.keyword_for_tag(tag) or "a private element"
            return f"{keyword} {tag} declares {length} bytes but the file ends {tell + length - size} bytes early"
    return ""


def referenced_series_uids(ds: Dataset) -> list[str]:
    """SeriesInstanceUIDs an RTSTRUCT names (ReferencedFrameOfReferenceSequence > RTReferencedStudySequence >
    RTReferencedSeriesSequence), in file order; '' for an item without one."""
    return [str(series.get("SeriesInstanceUID") or "")
            for frame in ds.get("ReferencedFrameOfReferenceSequence") or []
            for study in frame.get("RTReferencedStudySequence") or []
            for series in study.get("RTReferencedSeriesSequence") or []]


def convert_dicom(path: Path, ds: Dataset, what: str, convert: Callable[[Path, Dataset], T]) -> T:
    """Run a dataset converter; a missing or malformed element becomes an InputError naming the file."""
    try:
        return convert(path, ds)
    except InputError:
        raise
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise InputError(path, f"{what} is malformed ({type(exc).__name__}: {exc})") from exc


def new_uid(*entropy: object) -> str:
    """A fresh UID; with ``entropy`` a reproducible one derived from those values."""
    if entropy:
        return generate_uid(entropy_srcs=[repr(e) for e in entropy])
    return generate_uid()


def new_dataset(sop_class_uid: str, sop_instance_uid: str) -> Dataset:
    """An empty dataset with the file meta for explicit VR little endian and the SOP common module."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8, so any patient name round-trips
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid
    now = datetime.datetime.now()
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    return ds


def add_patient_and_study(ds: Dataset, *, study_instance_uid: str, series_instance_uid: str, modality: str,
                          patient_name: str = "", patient_id: str = "", series_number: int = 1,
                          series_description: str = "") -> None:
    """Patient, general study, general series and equipment modules (type 2 fields left empty).

    Writers then pass the dataset through :func:`braggdesk.io.deidentify.finalize_identity`,
    which pseudonymizes it or writes the patient's identity when explicitly asked to.
    """
    today = datetime.date.today().strftime("%Y%m%d")
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = study_instance_uid
    ds.StudyDate = today
    ds.StudyTime = "000000"
    ds.ReferringPhysicianName = ""
    ds.StudyID = ""
    ds.AccessionNumber = ""
    ds.Modality = modality
    ds.SeriesInstanceUID = series_instance_uid
    ds.SeriesNumber = series_number
    ds.SeriesDate = today
    if series_description:
        ds.SeriesDescription = series_description
    ds.Manufacturer = "braggdesk"
    ds.SoftwareVersions = str(__version__)


def decimal_string(value: float) -> str:
    """A number as a DICOM decimal string (at most 16 characters, as precise as that allows)."""
    value = float(value)
    if abs(value) < 1e-9:
        value = 0.0
    return format_number_as_ds(round(value, 9))


def add_image_plane(ds: Dataset, *, position_mm, direction: np.ndarray, spacing_mm: tuple[float, float, float],
                    rows: int, columns: int, bits: int, signed: bool = False) -> None:
    """Image plane and image pixel modules of a grid's frames (one sample per pixel, MONOCHROME2).

    ``direction`` holds the row, column and slice directions as columns and
    ``spacing_mm`` is (column, row, slice) spacing, as in :class:`~braggdesk.model.Volume`.
    """
    direction = np.asarray(direction, dtype=float)
    di, dj, dk = spacing_mm
    ds.ImagePositionPatient = [decimal_string(v) for v in position_mm]
    ds.ImageOrientationPatient = [decimal_string(v) for v in np.concatenate([direction[:, 0], direction[:, 1]])]
    ds.PixelSpacing = [decimal_string(dj), decimal_string(di)]
    ds.SliceThickness = decimal_string(dk)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if signed else 0
