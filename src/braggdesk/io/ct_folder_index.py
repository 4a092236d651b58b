"""One pass over the headers of a folder's files: the folder index every reader shares.

``info`` (io/inventory.py), the CT reader (io/dicom_ct.py), the reference resolver and the
workflow's Workspace all take a :class:`FolderIndex`, so a folder's headers are read once however
many of them ask, and every file that cannot be used has one reason that all of them show.  Only
headers are read (the Pixel Data's length, never its bytes), each CT slice's values checked where
they are read (:mod:`.header_values`).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from braggdesk.errors import InputError

from .header_values import MAX_COORDINATE_MM, check_orientation, header_float, header_floats, header_int
from .uids import (CT_IMAGE_STORAGE, RT_DOSE_STORAGE, RT_ION_PLAN_STORAGE, RT_PLAN_STORAGE, RT_STRUCTURE_SET_STORAGE,
                   sop_class_description, sop_class_of)

_INDEX_TAGS = [
    "SOPClassUID", "Modality", "SeriesInstanceUID", "SeriesDescription", "StudyInstanceUID",
    "FrameOfReferenceUID", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
    "Rows", "Columns", "PatientPosition", "SliceThickness", "InstanceNumber", "SOPInstanceUID",
    "ReferencedFrameOfReferenceSequence", "ReferencedStructureSetSequence", "ReferencedRTPlanSequence",
    "RescaleSlope", "RescaleIntercept", "BitsAllocated", "SamplesPerPixel", "NumberOfFrames", "PixelData",
]
_DEFER_BYTES = 1024  # the index reads the Pixel Data's length, never its bytes
# objects whose references lead from a file to the CT series it was made on
_RT_OBJECT_CLASSES = {RT_STRUCTURE_SET_STORAGE, RT_PLAN_STORAGE, RT_ION_PLAN_STORAGE, RT_DOSE_STORAGE}


@dataclass
class CtSliceHeader:
    """Header facts of one CT slice, enough to group, sort and check before reading pixels."""

    path: Path
    series_uid: str
    description: str
    study_uid: str
    frame_of_reference_uid: str
    position: np.ndarray | None
    orientation: np.ndarray | None
    pixel_spacing: tuple[float, float] | None
    rows: int
    columns: int
    patient_position: str
    slice_thickness: float | None
    transfer_syntax: str = ""
    modality: str = ""


@dataclass
class FolderIndex:
    """What one pass over the headers of a folder's files found: the one folder index.

    ``info`` (io/inventory.py), the CT reader, the reference resolver and the workflow's
    Workspace all take it, so a folder's headers are read once however many of them ask,
    and every file that cannot be used has one reason (``reasons``) that all of them show.
    """

    root: Path = Path(".")
    complete: bool = True  # every regular file under ``root`` was read (False: a chosen list of files)
    #: SOP Class UID of every DICOM file that has one, in file order (CT slices included)
    sop_classes: dict[Path, str] = field(default_factory=dict)
    rt_headers: dict[Path, Dataset] = field(default_factory=dict)  # RTSTRUCT, plan, dose headers by file
    slices: list[CtSliceHeader] = field(default_factory=list)
    rt_objects: dict[str, Dataset] = field(default_factory=dict)  # RTSTRUCT, plan, dose headers by SOPInstanceUID
    others: collections.Counter = field(default_factory=collections.Counter)  # other objects, by modality
    n_files: int = 0
    n_non_dicom: int = 0
    unreadable: list[Path] = field(default_factory=list)
    reasons: dict[Path, str] = field(default_factory=dict)  # why each unreadable file or bad CT slice is so
    bad_slices: list[InputError] = field(default_factory=list)  # CT slices whose header values fail the checks
    other_images: dict[str, list[tuple[Path, str]]] = field(default_factory=dict)  # non-CT images by series UID


def index_folder(folder: str | Path, files: list[Path] | None = None) -> FolderIndex:
    """Headers of every file under ``folder``: CT slices, RT objects, a count of other objects, non-DICOM files.

    Only regular files are opened (a named pipe would block the scan).  A file
    pydicom cannot parse, or a CT slice whose header values fail the checks, is
    kept with its reason (``reasons``, ``bad_slices``), so ``info`` can list it
    and ``read_ct_series`` refuse the folder with the same words.
    """
    folder = Path(folder)
    index = FolderIndex(root=folder, complete=files is None)
    for path in regular_files(folder) if files is None else files:
        index.n_files += 1
        try:
            ds = pydicom.dcmread(path, defer_size=_DEFER_BYTES, specific_tags=_INDEX_TAGS)
        except InvalidDicomError:
            index.n_non_dicom += 1
            continue
        except Exception as exc:  # a DICOM file pydicom cannot parse: report it only if nothing usable is found
            index.unreadable.append(path)
            index.reasons[path] = f"cannot be read as DICOM ({type(exc).__name__}: {exc})"
            continue
        sop_class = sop_class_of(ds)
        if not sop_class or len(ds) == 0 or (sop_class == CT_IMAGE_STORAGE and not (ds.get("SeriesInstanceUID") and ds.get("Rows"))):
            index.unreadable.append(path)  # a header cut short: pydicom returns what it could read
            index.reasons[path] = ("holds no SOP Class UID (0008,0016) (a truncated header?)"
                                   if not sop_class or len(ds) == 0 else
                                   "CT slice without SeriesInstanceUID (0020,000E) or Rows (0028,0010) (a truncated "
                                   "header?)")
            continue
        index.sop_classes[path] = sop_class
        if sop_class != CT_IMAGE_STORAGE:
            modality = str(ds.get("Modality") or sop_class_description(sop_class))
            index.others[modality] += 1
            if sop_class in _RT_OBJECT_CLASSES:
                index.rt_objects[str(ds.get("SOPInstanceUID", ""))] = ds
                index.rt_headers[path] = ds
            elif ds.get("SeriesInstanceUID"):
                index.other_images.setdefault(str(ds.SeriesInstanceUID), []).append((path, modality))
            continue
        try:
            index.slices.append(_slice_from_header(path, ds))
        except InputError as exc:
            index.bad_slices.append(exc)
            index.reasons[path] = exc.problem
    return index


def regular_files(folder: Path) -> list[Path]:
    """Every regular file under ``folder``, sorted; pipes, sockets and devices are skipped (opening one may block)."""
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _slice_from_header(path: Path, ds: pydicom.Dataset) -> CtSliceHeader:
    """The slice's header facts, each value checked (:mod:`.header_values`): an InputError names the tag and value."""
    position = header_floats(ds, "ImagePositionPatient", path, count=3, low=-MAX_COORDINATE_MM,
                             high=MAX_COORDINATE_MM, what="the position of the first pixel in mm")
    orientation = header_floats(ds, "ImageOrientationPatient", path, count=6, low=-1.0 - 1e-3, high=1.0 + 1e-3,
                                what="two direction cosines")
    if orientation is not None:
        check_orientation(orientation, path)
    spacing = header_floats(ds, "PixelSpacing", path, count=2, positive=True, high=1000.0,
                            what="the row and column spacing in mm")
    thickness = header_float(ds, "SliceThickness", path, non_negative=True, high=1000.0,
                             what="the slice thickness in mm")
    rows = header_int(ds, "Rows", path, low=1, high=65535, what="the number of pixel rows")
    columns = header_int(ds, "Columns", path, low=1, high=65535, what="the number of pixel columns")
    check_rescale(path, ds)
    syntax = str(getattr(ds, "file_meta", {}).get("TransferSyntaxUID", ""))
    if syntax and not pydicom.uid.UID(syntax).is_transfer_syntax:
        raise InputError(path, f"TransferSyntaxUID (0002,0010) {syntax!r} is not a transfer syntax pydicom knows; "
                               f"the pixels cannot be decoded (a corrupt file meta header?)")
    if "PixelData" in ds:  # the length only: the index defers the bytes
        element = ds.get_item("PixelData", keep_deferred=True)
        check_pixel_bytes(path, ds, element.length)
        _check_not_cut_short(path, element)
    return CtSliceHeader(
        path=path,
        series_uid=str(ds.get("SeriesInstanceUID", "")),
        description=str(ds.get("SeriesDescription", "")),
        study_uid=str(ds.get("StudyInstanceUID", "")),
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID", "")),
        position=position,
        orientation=orientation,
        pixel_spacing=None if spacing is None else (float(spacing[0]), float(spacing[1])),
        rows=rows or 0,
        columns=columns or 0,
        patient_position=str(ds.get("PatientPosition") or ""),
        slice_thickness=thickness if thickness else None,
        transfer_syntax=str(getattr(ds, "file_meta", {}).get("TransferSyntaxUID", "")),
        modality=str(ds.get("Modality") or ""),
    )


def _check_not_cut_short(path: Path, element) -> None:
    """A Pixel Data element that declares more bytes than the file holds: a copy cut short (pydicom reads it
    without a word when the bytes are deferred)."""
    tell, length = getattr(element, "value_tell", None), getattr(element, "length", None)
    if tell is None or length is None or length == 0xFFFFFFFF:
        return
    size = path.stat().st_size
    if tell + length > size:
        raise InputError(path, f"Pixel Data (7FE0,0010) declares {length} bytes but the file ends "
                               f"{tell + length - size} bytes early: a truncated copy; copy or export it again")


def check_rescale(path: Path, ds: Dataset) -> None:
    """RescaleSlope and RescaleIntercept turn stored values into HU: finite, the slope above 0."""
    header_float(ds, "RescaleSlope", path, positive=True, high=1e4, what="the slope from stored values to HU")
    header_float(ds, "RescaleIntercept", path, low=-1e5, high=1e5, what="the HU of stored value 0")


def check_pixel_bytes(path: Path, ds: Dataset, found: int | None) -> None:
    """Uncompressed pixels: Rows x Columns x frames x samples x bytes must match the Pixel Data's length.

    pydicom would pad a short one or drop the surplus with a warning; a wrong Rows
    or Columns then shears the image, silently.  Compressed data is checked by its decoder.
    """
    syntax = pydicom.uid.UID(str(getattr(ds, "file_meta", {}).get("TransferSyntaxUID", "")))
    if found is None or found == 0xFFFFFFFF or not syntax or not syntax.is_transfer_syntax or syntax.is_compressed:
        return  # no pixels, or encapsulated (compressed) pixels that their decoder checks
    rows = header_int(ds, "Rows", path, required=True, low=1)
    columns = header_int(ds, "Columns", path, required=True, low=1)
    bits = header_int(ds, "BitsAllocated", path, low=1, high=64) or 16
    samples = header_int(ds, "SamplesPerPixel", path, low=1, high=4) or 1
    frames = header_int(ds, "NumberOfFrames", path, low=1) or 1
    expected = rows * columns * frames * samples * bits // 8  # type: ignore[operator]
    if found not in (expected, expected + 1):  # one pad byte makes an odd length even
        raise InputError(path, f"Pixel Data (7FE0,0010) holds {found} bytes, but Rows (0028,0010) {rows} x Columns "
                               f"(0028,0011) {columns} x {bits} bits needs {expected}; the header and the pixels "
                               f"disagree (a corrupt or edited file)")
