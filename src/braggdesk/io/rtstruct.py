"""RT Structure Sets (RTSTRUCT) to a :class:`StructureSet` and back.

Reading keeps every ROI of the file: number, name, display colour, the
RTROIInterpretedType of its observation, its closed planar contours as (n, 3)
arrays of patient mm, its POINT contours as points and any open contours (lines,
kept but never given a volume).  The frame of reference and the CT series the
contours were drawn on are kept so a caller can check them against the CT.

What cannot be trusted is refused with an :class:`InputError` naming the file,
the ROI and the tag (a closed contour with fewer than 3 points, a point count
that disagrees with ContourData, a non-planar "planar" contour, non-numbers,
contours of an ROI the file does not declare); what is legal but worth knowing
(an ROI without contours, open contours) becomes a line in ``StructureSet.notes``.

Writing makes one RT Structure Set Storage object that references the CT
series it goes with (study, series, every slice's SOPInstanceUID, and per
contour the slice it lies on), with the patient name and ID given by the caller
(de-identified defaults) and nothing else about a patient.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Sequence

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.valuerep import format_number_as_ds

from braggdesk.errors import InputError
from braggdesk.model import Roi, StructureSet, Volume

from .deidentify import PatientIdentity, finalize_identity
from .header_values import MAX_COORDINATE_MM, values_checked, whole_number
from .uids import (CT_IMAGE_STORAGE, RT_STRUCTURE_SET_STORAGE, add_patient_and_study, convert_dicom, new_dataset,
                   new_uid, read_dicom, referenced_series_uids)

CLOSED_PLANAR = "CLOSED_PLANAR"
POINT = "POINT"
OPEN_TYPES = ("OPEN_PLANAR", "OPEN_NONPLANAR")
# Study Component Management SOP class: what planning systems put as the referenced study's SOP class
_STUDY_SOP_CLASS = "1.2.840.10008.3.1.2.3.1"
_PLANARITY_TOLERANCE_MM = 0.05  # RMS distance of a CLOSED_PLANAR contour's points from their plane
_SAME_PLANE_MM = 0.01  # a contour lies on a CT slice when its z is this close
_PALETTE = [(255, 0, 0), (0, 160, 255), (0, 200, 0), (255, 200, 0), (200, 0, 255), (255, 120, 0), (0, 220, 200),
            (255, 0, 140), (140, 90, 40), (120, 120, 255)]


# ----------------------------------------------------------------------------------------- reading


def read_rtstruct(path: str | Path) -> StructureSet:
    """Read an RTSTRUCT file into a StructureSet (no patient identity is kept)."""
    path = Path(path)
    ds = read_dicom(path, RT_STRUCTURE_SET_STORAGE)
    return convert_dicom(path, ds, "the RT Structure Set", _convert)


def _convert(path: Path, ds: Dataset) -> StructureSet:
    if "StructureSetROISequence" not in ds:
        raise InputError(path, "RT Structure Set has no StructureSetROISequence (3006,0020); it declares no ROIs")
    notes: list[str] = []
    rois: dict[int, Roi] = {}
    roi_frames: dict[int, str] = {}
    for item in ds.StructureSetROISequence:
        if item.get("ROINumber") in (None, ""):
            raise InputError(path, f"an item of StructureSetROISequence (3006,0020) named {item.get('ROIName')!r} "
                                   f"has no ROINumber (3006,0022)")
        number = int(whole_number(item.ROINumber, "ROINumber", path, where="StructureSetROISequence",
                                  what="a whole ROI number"))  # type: ignore[arg-type]
        if number in rois:
            raise InputError(path, f"ROINumber (3006,0022) {number} is used by both {rois[number].name!r} and "
                                   f"{item.get('ROIName')!r}; ROI numbers must be unique")
        rois[number] = Roi(number=number, name=str(item.get("ROIName") or f"ROI {number}"),
                           color_rgb=_PALETTE[len(rois) % len(_PALETTE)])
        roi_frames[number] = str(item.get("ReferencedFrameOfReferenceUID") or "")

    for obs in ds.get("RTROIObservationsSequence") or []:
        number = obs.get("ReferencedROINumber")
        if number in (None, ""):
            continue
        number = whole_number(number, "ReferencedROINumber", path, where="RTROIObservationsSequence",
                              what="a whole ROI number")
        if number in rois:
            rois[number].roi_type = str(obs.get("RTROIInterpretedType") or "").strip().upper()

    seen_contours: set[int] = set()
    for item in ds.get("ROIContourSequence") or []:
        if item.get("ReferencedROINumber") in (None, ""):
            raise InputError(path, "an item of ROIContourSequence (3006,0039) has no ReferencedROINumber (3006,0084)")
        number = int(whole_number(item.ReferencedROINumber, "ReferencedROINumber", path,  # type: ignore[arg-type]
                                  where="ROIContourSequence", what="a whole ROI number"))
        if number not in rois:
            raise InputError(path, f"ROIContourSequence (3006,0039) holds contours for ROI number {number}, which "
                                   f"StructureSetROISequence (3006,0020) does not declare (it has "
                                   f"{sorted(rois) or 'none'})")
        if number in seen_contours:
            raise InputError(path, f"ROIContourSequence (3006,0039) has two items for ROI {number} "
                                   f"({rois[number].name!r})")
        seen_contours.add(number)
        roi = rois[number]
        color = item.get("ROIDisplayColor")
        if color is not None and len(color) == 3:  # a colour is cosmetic: a bad one keeps the palette's
            rgb = values_checked(color, "ROIDisplayColor", path, where=f"ROI {roi.name!r}") \
                if _is_numeric(color) else None
            if rgb is not None:
                roi.color_rgb = tuple(int(max(0, min(255, c))) for c in rgb)  # type: ignore[assignment]
        _read_contours(path, roi, item.get("ContourSequence") or [], notes)

    for roi in rois.values():
        if roi.is_empty:
            notes.append(f"ROI {roi.name!r} (number {roi.number}) has no contours: an empty structure, "
                         f"with no volume and no DVH")

    frame = next((str(ref.FrameOfReferenceUID) for ref in ds.get("ReferencedFrameOfReferenceSequence") or []
                  if ref.get("FrameOfReferenceUID")), "")
    referenced_series = next((uid for uid in referenced_series_uids(ds) if uid), "")
    frames = {f for f in roi_frames.values() if f}
    frame = frame or (sorted(frames)[0] if frames else "")
    others = sorted(frames - {frame})
    if others:
        notes.append(f"ROIs reference {len(others)} other frame(s) of reference than {frame} "
                     f"(ReferencedFrameOfReferenceUID (3006,0024)): {', '.join(others)}")
    return StructureSet(rois=list(rois.values()), frame_of_reference_uid=frame,
                        referenced_series_uid=referenced_series, label=str(ds.get("StructureSetLabel") or ""),
                        source_path=str(path), notes=notes)


def _read_contours(path: Path, roi: Roi, contours, notes: list[str]) -> None:
    points: list[np.ndarray] = []
    n_open = 0
    for index, contour in enumerate(contours, start=1):
        where = f"ROI {roi.name!r} (number {roi.number}), contour {index}"
        kind = str(contour.get("ContourGeometricType") or "").strip().upper()
        xyz = _contour_points(path, contour, where)
        declared = contour.get("NumberOfContourPoints")
        if declared not in (None, "") and whole_number(declared, "NumberOfContourPoints", path, where=where) \
                != len(xyz):
            raise InputError(path, f"{where}: NumberOfContourPoints (3006,0046) says {declared} but "
                                   f"ContourData (3006,0050) holds {len(xyz)} points; the file may be truncated")
        if kind == CLOSED_PLANAR:
            if len(xyz) > 3 and np.array_equal(xyz[0], xyz[-1]):
                xyz = xyz[:-1]  # some systems repeat the first point to close the polygon
            if len(xyz) < 3:
                raise InputError(path, f"{where}: a CLOSED_PLANAR contour needs at least 3 points, it has "
                                       f"{len(xyz)}")
            if np.ptp(xyz[:, 2]) > _SAME_PLANE_MM:
                rms = _distance_from_plane_mm(xyz)
                if rms > _PLANARITY_TOLERANCE_MM:
                    raise InputError(path, f"{where}: a CLOSED_PLANAR contour whose points lie up to "
                                           f"{rms:.2f} mm (RMS) off any plane; expected a planar polygon")
            roi.contours.append(xyz)
        elif kind == POINT:
            points.append(xyz)
        elif kind in OPEN_TYPES:
            roi.open_contours.append(xyz)
            n_open += 1
        else:
            raise InputError(path, f"{where}: ContourGeometricType (3006,0042) is {kind or 'missing'!r}; expected "
                                   f"CLOSED_PLANAR, POINT, OPEN_PLANAR or OPEN_NONPLANAR")
    if points:
        roi.points_mm = np.concatenate(points, axis=0)
    if n_open:
        notes.append(f"ROI {roi.name!r} (number {roi.number}) has {n_open} open contour(s) (lines); they enclose no "
                     f"volume and are kept for display only")


def _contour_points(path: Path, contour: Dataset, where: str) -> np.ndarray:
    """ContourData as (n, 3) floats; parsed straight from the raw bytes where possible (much faster)."""
    tag = 0x30060050
    if tag not in contour:
        raise InputError(path, f"{where}: no ContourData (3006,0050)")
    element = contour.get_item(tag)
    try:
        if isinstance(element, RawDataElement):
            text = (element.value or b"").decode("ascii").strip(" \x00")
            values = np.array(text.split("\\") if text else [], dtype=np.float64)
        else:
            values = np.asarray(contour.ContourData if contour.ContourData is not None else [], dtype=np.float64)
    except (UnicodeDecodeError, ValueError, TypeError) as exc:
        raise InputError(path, f"{where}: ContourData (3006,0050) holds something other than numbers "
                               f"({type(exc).__name__}: {exc})") from exc
    values = values.ravel()
    if values.size == 0 or values.size % 3:
        raise InputError(path, f"{where}: ContourData (3006,0050) holds {values.size} numbers; expected x, y, z "
                               f"triplets (a multiple of 3, at least 3)")
    if not np.all(np.isfinite(values)):
        raise InputError(path, f"{where}: ContourData (3006,0050) holds NaN or infinite coordinates")
    if np.any(np.abs(values) > MAX_COORDINATE_MM):
        worst = float(values[np.argmax(np.abs(values))])
        raise InputError(path, f"{where}: ContourData (3006,0050) holds the coordinate {worst:g} mm, beyond "
                               f"{MAX_COORDINATE_MM:g} mm of the origin; expected patient coordinates in mm")
    return values.reshape(-1, 3)


def _is_numeric(values) -> bool:
    """True when every value converts to a finite number (a colour like ['red', '', ''] does not)."""
    try:
        return all(np.isfinite(float(v)) for v in values)
    except (TypeError, ValueError):
        return False


def _distance_from_plane_mm(xyz: np.ndarray) -> float:
    centred = xyz - xyz.mean(axis=0)
    smallest = np.linalg.svd(centred, compute_uv=False)[-1]
    return float(smallest / np.sqrt(len(xyz)))


# ----------------------------------------------------------------------------------------- writing


def read_sop_instance_uids(paths: Sequence[str | Path]) -> list[str]:
    """SOPInstanceUID of each file, in the given order (e.g. the paths write_ct_series returns)."""
    uids = []
    for p in paths:
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
        except Exception as exc:
            raise InputError(p, f"cannot be read as DICOM ({type(exc).__name__}: {exc}); expected a CT slice") from exc
        if not ds.get("SOPInstanceUID"):
            raise InputError(p, "has no SOPInstanceUID (0008,0018)")
        uids.append(str(ds.SOPInstanceUID))
    return uids


def write_rtstruct(structure_set: StructureSet, ct_volume: Volume, ct_slice_uids: Sequence[str], path: str | Path,
                   *, label: str = "", series_description: str = "", identity: PatientIdentity | None = None,
                   identified: bool = False) -> Path:
    """Write ``structure_set`` as an RTSTRUCT drawn on the CT series ``ct_volume`` came from.

    ``ct_slice_uids`` are the SOPInstanceUIDs of the CT slices in the volume's
    k order (:func:`read_sop_instance_uids` on the paths ``write_ct_series``
    returned).  The file is de-identified like the CT writer's output (the same
    pseudonym, derived from the study UID, so a planning system files both
    together) unless ``identified=True`` writes ``identity``.  Returns the path.
    """
    path = Path(path)
    for what, uid in (("frame_of_reference_uid", ct_volume.frame_of_reference_uid),
                      ("study_instance_uid", ct_volume.study_instance_uid),
                      ("series_instance_uid", ct_volume.series_instance_uid)):
        if not uid:
            raise ValueError(f"the CT volume has no {what}; write the CT series first and read it back, so the "
                             f"structure set can reference it")
    if len(ct_slice_uids) != ct_volume.shape[0]:
        raise ValueError(f"{len(ct_slice_uids)} slice UIDs for a CT of {ct_volume.shape[0]} slices")
    frame = ct_volume.frame_of_reference_uid
    if structure_set.frame_of_reference_uid and structure_set.frame_of_reference_uid != frame:
        raise ValueError(f"the structure set is on frame of reference {structure_set.frame_of_reference_uid}, the CT "
                         f"on {frame}; contours would be written against the wrong anatomy")
    numbers = [r.number for r in structure_set.rois]
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"ROI numbers must be unique, got {numbers}")

    ds = new_dataset(RT_STRUCTURE_SET_STORAGE, new_uid())
    add_patient_and_study(ds, study_instance_uid=ct_volume.study_instance_uid, series_instance_uid=new_uid(),
                          modality="RTSTRUCT", series_description=series_description or "braggdesk structures")
    ds.FrameOfReferenceUID = frame
    ds.StructureSetLabel = (label or structure_set.label or "braggdesk")[:16]
    ds.StructureSetName = label or structure_set.label or "braggdesk"
    ds.StructureSetDate = datetime.date.today().strftime("%Y%m%d")
    ds.StructureSetTime = "000000"

    slice_refs = [_image_ref(uid) for uid in ct_slice_uids]
    series = Dataset()
    series.SeriesInstanceUID = ct_volume.series_instance_uid
    series.ContourImageSequence = DicomSequence(slice_refs)
    study = Dataset()
    study.ReferencedSOPClassUID = _STUDY_SOP_CLASS
    study.ReferencedSOPInstanceUID = ct_volume.study_instance_uid
    study.RTReferencedSeriesSequence = DicomSequence([series])
    ref_frame = Dataset()
    ref_frame.FrameOfReferenceUID = frame
    ref_frame.RTReferencedStudySequence = DicomSequence([study])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([ref_frame])

    slice_position = _slice_locator(ct_volume)
    roi_items, contour_items, observations = [], [], []
    for n, roi in enumerate(structure_set.rois, start=1):
        item = Dataset()
        item.ROINumber = roi.number
        item.ReferencedFrameOfReferenceUID = frame
        item.ROIName = roi.name
        item.ROIGenerationAlgorithm = "AUTOMATIC"
        roi_items.append(item)

        contours = []
        for xyz in roi.contours:
            contours.append(_contour_item(CLOSED_PLANAR, xyz, slice_position, ct_slice_uids))
        for xyz in roi.open_contours:
            planar = np.ptp(np.asarray(xyz)[:, 2]) <= _SAME_PLANE_MM
            contours.append(_contour_item("OPEN_PLANAR" if planar else "OPEN_NONPLANAR", xyz, slice_position,
                                          ct_slice_uids))
        for xyz in np.asarray(roi.points_mm, dtype=float).reshape(-1, 3):
            contours.append(_contour_item(POINT, xyz[None, :], slice_position, ct_slice_uids))
        roi_contour = Dataset()
        roi_contour.ROIDisplayColor = [int(c) for c in roi.color_rgb]
        if contours:
            roi_contour.ContourSequence = DicomSequence(contours)
        roi_contour.ReferencedROINumber = roi.number
        contour_items.append(roi_contour)

        obs = Dataset()
        obs.ObservationNumber = n
        obs.ReferencedROINumber = roi.number
        obs.RTROIInterpretedType = (roi.roi_type or ("MARKER" if roi.is_point else "ORGAN")).upper()
        obs.ROIInterpreter = ""
        observations.append(obs)
    ds.StructureSetROISequence = DicomSequence(roi_items)
    ds.ROIContourSequence = DicomSequence(contour_items)
    ds.RTROIObservationsSequence = DicomSequence(observations)
    ds.ApprovalStatus = "UNAPPROVED"

    path.parent.mkdir(parents=True, exist_ok=True)
    finalize_identity(ds, identity, identified=identified)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def _image_ref(sop_instance_uid: str) -> Dataset:
    ref = Dataset()
    ref.ReferencedSOPClassUID = CT_IMAGE_STORAGE
    ref.ReferencedSOPInstanceUID = sop_instance_uid
    return ref


def _slice_locator(ct: Volume):
    """A function from a contour's points to the index of the CT slice it lies on, or None."""
    direction = np.asarray(ct.direction, dtype=float)
    normal = direction[:, 2]
    origin = np.asarray(ct.origin_mm, dtype=float)
    dk = ct.spacing_mm[2]
    nk = ct.shape[0]

    def locate(xyz: np.ndarray) -> int | None:
        along = (np.asarray(xyz, dtype=float) - origin) @ normal / dk
        if np.ptp(along) * dk > _SAME_PLANE_MM:
            return None
        k = int(round(float(along.mean())))
        if 0 <= k < nk and abs(float(along.mean()) - k) * dk <= _SAME_PLANE_MM:
            return k
        return None

    return locate


def _contour_item(kind: str, xyz: np.ndarray, slice_position, slice_uids: Sequence[str]) -> Dataset:
    xyz = np.asarray(xyz, dtype=float).reshape(-1, 3)
    item = Dataset()
    k = slice_position(xyz)
    if k is not None:
        item.ContourImageSequence = DicomSequence([_image_ref(slice_uids[k])])
    item.ContourGeometricType = kind
    item.NumberOfContourPoints = len(xyz)
    # DS values formatted here once: pydicom's per-value validation is slow for thousands of points
    text = "\\".join(_ds_text(v) for v in xyz.ravel())
    if len(text) % 2:
        text += " "
    item[0x30060050] = RawDataElement(pydicom.tag.Tag(0x30060050), "DS", len(text), text.encode("ascii"),
                                      value_tell=0, is_implicit_VR=False, is_little_endian=True, is_raw=True)
    return item


def _ds_text(value: float) -> str:
    text = f"{round(float(value), 4):.10g}"
    return text if len(text) <= 16 else format_number_as_ds(float(value))
