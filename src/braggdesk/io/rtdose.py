"""RT Dose files: write a dose grid for a planning system, read a planning system's dose.

A dose grid is a :class:`Volume` whose ``hu`` holds dose in Gy (float32), as
in :class:`braggdesk.model.DoseResult`.  On disk it is one multi-frame RT Dose
Storage object: 32-bit unsigned pixels times DoseGridScaling, frames at
GridFrameOffsetVector (mm along the slice normal, relative to the first frame).

The writer picks DoseGridScaling so that the maximum dose maps close to
2^32 - 1; the rounding error is then below 1e-9 of the maximum.  The reader
accepts both forms of GridFrameOffsetVector the standard allows (relative,
first element 0; or absolute z positions for axial grids) and 16- or 32-bit
pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.valuerep import format_number_as_ds

from braggdesk.errors import InputError
from braggdesk.model import Plan, Volume

from .deidentify import PatientIdentity, finalize_identity
from .header_values import (MAX_COORDINATE_MM, check_orientation, header_float, header_floats, header_int,
                            whole_number)
from .uids import (RT_DOSE_STORAGE, RT_ION_PLAN_STORAGE, add_image_plane, add_patient_and_study, convert_dicom,
                   decimal_string, new_dataset, new_uid, read_dicom)

DOSE_TYPES = ("PHYSICAL", "EFFECTIVE", "ERROR")
SUMMATION_TYPES = ("PLAN", "MULTI_PLAN", "PLAN_OVERVIEW", "FRACTION", "BEAM", "BRACHY", "FRACTION_SESSION",
                   "BEAM_SESSION", "BRACHY_SESSION", "CONTROL_POINT", "RECORD")
_MAX_STORED = 2**32 - 1
_OFFSET_TOLERANCE_MM = 0.01


@dataclass(frozen=True)
class RtDoseInfo:
    """What an RT Dose says about itself, beside the grid."""

    dose_units: str  # "GY" or "RELATIVE"
    dose_type: str  # PHYSICAL, EFFECTIVE (RBE-weighted) or ERROR
    summation: str  # PLAN, BEAM, FRACTION, ...
    comment: str
    referenced_plan_uid: str
    manufacturer: str
    referenced_beam_numbers: tuple[int, ...] = ()  # the beam(s) a BEAM summation holds, when stated

    @property
    def rbe_weighted(self) -> bool:
        """EFFECTIVE dose is RBE-weighted (1.1 for protons in most planning systems); PHYSICAL is not."""
        return self.dose_type.upper() == "EFFECTIVE"


# ----------------------------------------------------------------------------------------- writing


def computed_summation(plan: Plan | None) -> str:
    """DoseSummationType of a Monte Carlo dose of ``plan``: the plan's monitor units are one fraction's, so
    the dose is one FRACTION's when the plan has several (DICOM's PLAN is the whole course)."""
    return "FRACTION" if plan is not None and int(plan.fractions_planned or 1) > 1 else "PLAN"


def write_rtdose(dose_gy: np.ndarray, grid: Volume, path: str | Path, *, plan: Plan | None = None,
                 ct: Volume | None = None, dose_type: str = "PHYSICAL", summation: str = "PLAN",
                 comment: str = "", identity: PatientIdentity | None = None, identified: bool = False) -> Path:
    """Write ``dose_gy`` (indexed like ``grid.values``) as an RT Dose file on ``grid``'s geometry.

    FrameOfReferenceUID is the grid's; StudyInstanceUID the CT's (else the
    grid's, else new); the plan's SOPInstanceUID goes into
    ReferencedRTPlanSequence.  The file is de-identified (pseudonym from the
    study UID, so it matches a de-identified CT of the same study) unless
    ``identified=True``, which writes ``identity`` (read from the CT with
    :func:`braggdesk.io.deidentify.read_patient_identity`) so a planning
    system files the dose with its patient.
    """
    path = Path(path)
    dose = np.asarray(dose_gy, dtype=np.float64)
    if dose.shape != grid.shape:
        raise ValueError(f"dose has shape {dose.shape}, the grid {grid.shape}")
    if not np.all(np.isfinite(dose)):
        raise ValueError("dose holds NaN or infinite values")
    if dose.size and dose.min() < 0:
        raise ValueError(f"dose has negative values (min {dose.min():g} Gy); RT Dose pixels are unsigned")
    dose_type, summation = dose_type.upper(), summation.upper()
    if dose_type not in DOSE_TYPES:
        raise ValueError(f"dose_type must be one of {DOSE_TYPES}, got {dose_type!r}")
    if summation not in SUMMATION_TYPES:
        raise ValueError(f"summation must be one of {SUMMATION_TYPES}, got {summation!r}")

    direction = np.asarray(grid.direction, dtype=float)
    row_dir, col_dir, slice_dir = direction[:, 0], direction[:, 1], direction[:, 2]
    normal = np.cross(row_dir, col_dir)
    along = float(np.dot(slice_dir, normal))
    if abs(abs(along) - 1.0) > 1e-6:
        raise ValueError("the grid's slice axis is not perpendicular to its image plane; RT Dose cannot hold it")
    dk = grid.spacing_mm[2]
    nk, nj, ni = grid.shape
    scaling, stored = _scale(dose)

    ds = new_dataset(RT_DOSE_STORAGE, new_uid())
    study_uid = (ct.study_instance_uid if ct is not None else "") or grid.study_instance_uid or new_uid()
    description = f"braggdesk {dose_type.lower()} dose"
    add_patient_and_study(ds, study_instance_uid=study_uid, series_instance_uid=new_uid(), modality="RTDOSE",
                          series_description=description)
    ds.FrameOfReferenceUID = grid.frame_of_reference_uid or (ct.frame_of_reference_uid if ct is not None else "") \
        or new_uid()
    ds.PositionReferenceIndicator = ""
    ds.OperatorsName = ""
    ds.InstanceNumber = 1
    add_image_plane(ds, position_mm=grid.origin_mm, direction=direction, spacing_mm=grid.spacing_mm, rows=nj,
                    columns=ni, bits=32)
    ds.NumberOfFrames = nk
    ds.FrameIncrementPointer = pydicom.tag.Tag("GridFrameOffsetVector")
    ds.GridFrameOffsetVector = [decimal_string(along * dk * k) for k in range(nk)]
    ds.DoseUnits = "GY"
    ds.DoseType = dose_type
    ds.DoseSummationType = summation
    ds.DoseGridScaling = scaling
    if comment:
        ds.DoseComment = comment[:64]
    ds.TissueHeterogeneityCorrection = ["IMAGE"]
    if plan is not None and plan.sop_instance_uid:
        ref = Dataset()
        ref.ReferencedSOPClassUID = RT_ION_PLAN_STORAGE
        ref.ReferencedSOPInstanceUID = plan.sop_instance_uid
        ds.ReferencedRTPlanSequence = [ref]
    ds.PixelData = np.ascontiguousarray(stored).tobytes()
    finalize_identity(ds, identity, identified=identified)
    ds.SeriesDescription = description  # braggdesk's own words, never the patient's
    path.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def _scale(dose: np.ndarray) -> tuple[str, np.ndarray]:
    """DoseGridScaling as the decimal string written, and the uint32 pixels computed with exactly that value."""
    peak = float(dose.max()) if dose.size else 0.0
    if peak <= 0:
        return "1", np.zeros(dose.shape, dtype="<u4")
    scaling = peak / _MAX_STORED
    text = _ds_precise(scaling)
    while peak / float(text) > _MAX_STORED:  # rounding the string down must not overflow the maximum
        scaling *= 1.0 + 1e-12
        text = _ds_precise(scaling)
    stored = np.rint(dose / float(text))
    return text, np.clip(stored, 0, _MAX_STORED).astype("<u4")


# ----------------------------------------------------------------------------------------- reading


def read_rtdose(path: str | Path) -> Volume:
    """Dose grid of an RT Dose file: ``hu`` is the dose (float32, Gy or relative, see :func:`read_rtdose_info`)."""
    path = Path(path)
    return convert_dicom(path, read_dicom(path, RT_DOSE_STORAGE), "RT Dose", _volume)


def read_rtdose_info(path: str | Path) -> RtDoseInfo:
    """Units, dose type, summation and referenced plan of an RT Dose, without reading pixels."""
    path = Path(path)
    ds = read_dicom(path, RT_DOSE_STORAGE, stop_before_pixels=True)
    plans = ds.get("ReferencedRTPlanSequence") or []
    beams = [whole_number(b.ReferencedBeamNumber, "ReferencedBeamNumber", path, where="ReferencedRTPlanSequence",
                          what="a beam number")
             for p in plans for g in p.get("ReferencedFractionGroupSequence") or []
             for b in g.get("ReferencedBeamSequence") or [] if b.get("ReferencedBeamNumber") not in (None, "")]
    return RtDoseInfo(
        dose_units=str(ds.get("DoseUnits", "")),
        dose_type=str(ds.get("DoseType", "")),
        summation=str(ds.get("DoseSummationType", "")),
        comment=str(ds.get("DoseComment", "")),
        referenced_plan_uid=str(plans[0].get("ReferencedSOPInstanceUID", "")) if plans else "",
        manufacturer=str(ds.get("Manufacturer", "")),
        referenced_beam_numbers=tuple(beams),
    )


def check_dose_grid_on_ct(dose: Volume, ct: Volume, path: str | Path, *,
                          ignore_frame_of_reference: bool = False) -> None:
    """InputError (naming the dose file) when a dose cannot be compared on ``ct``.

    Refused: another frame of reference (unless ignored), or a grid whose
    voxel centres all lie outside the CT's box of voxels.  A grid that covers
    only part of the CT, or more than it, is fine: a planning system's dose
    grid rarely matches the CT.
    """
    path = Path(path)
    if not ignore_frame_of_reference and dose.frame_of_reference_uid and ct.frame_of_reference_uid \
            and dose.frame_of_reference_uid != ct.frame_of_reference_uid:
        raise InputError(path, f"dose is on frame of reference {dose.frame_of_reference_uid}, the CT on "
                               f"{ct.frame_of_reference_uid}; they cannot be compared without a registration")
    in_ct = (ct.patient_to_index() @ dose.index_to_patient() @ _corners(dose).T)[:3].T  # (8, 3) CT i, j, k
    ct_max = np.array([ct.shape[2], ct.shape[1], ct.shape[0]], dtype=float) - 0.5
    low, high = in_ct.min(axis=0), in_ct.max(axis=0)
    if np.any(high < -0.5) or np.any(low > ct_max):
        lo_mm, hi_mm = _box_mm(dose)
        ct_lo, ct_hi = _box_mm(ct)
        raise InputError(path, f"dose grid ({_fmt_box(lo_mm, hi_mm)}) lies outside the CT "
                               f"({_fmt_box(ct_lo, ct_hi)}); expected a dose on this patient's CT")


def _corners(volume: Volume) -> np.ndarray:
    """(8, 4) homogeneous voxel indices (i, j, k, 1) of the grid's corner voxels."""
    return np.array([[i, j, k, 1.0] for i in (0, volume.shape[2] - 1) for j in (0, volume.shape[1] - 1)
                     for k in (0, volume.shape[0] - 1)])


def _box_mm(volume: Volume) -> tuple[np.ndarray, np.ndarray]:
    xyz = (volume.index_to_patient() @ _corners(volume).T)[:3].T
    return xyz.min(axis=0), xyz.max(axis=0)


def _fmt_box(lo: np.ndarray, hi: np.ndarray) -> str:
    return ", ".join(f"{axis} {a:.1f}..{b:.1f} mm" for axis, a, b in zip("xyz", lo, hi))


def _volume(path: Path, ds: Dataset) -> Volume:
    for keyword, tag in (("ImagePositionPatient", "(0020,0032)"), ("ImageOrientationPatient", "(0020,0037)"),
                         ("PixelSpacing", "(0028,0030)"), ("PixelData", "(7FE0,0010)")):
        if keyword not in ds:
            raise InputError(path, f"RT Dose has no {keyword} {tag}; cannot place the dose grid")
    if "DoseGridScaling" not in ds:
        raise InputError(path, "RT Dose has no DoseGridScaling (3004,000E); its pixel values cannot be turned "
                               "into dose")
    # every header value checked where it is read (the file, the tag and the value in one line if bad)
    position = header_floats(ds, "ImagePositionPatient", path, count=3, low=-MAX_COORDINATE_MM,
                             high=MAX_COORDINATE_MM, what="the position of the first dose voxel in mm")
    orientation = header_floats(ds, "ImageOrientationPatient", path, count=6, low=-1.001, high=1.001,
                                what="two direction cosines")
    check_orientation(orientation, path)  # type: ignore[arg-type]
    pixel_spacing = header_floats(ds, "PixelSpacing", path, count=2, positive=True, high=1000.0,
                                  what="the row and column spacing in mm")
    scaling = header_float(ds, "DoseGridScaling", path, required=True, positive=True,
                           what="the dose in Gy of one stored unit, a positive number")
    rows = header_int(ds, "Rows", path, required=True, low=1, high=65535)
    columns = header_int(ds, "Columns", path, required=True, low=1, high=65535)
    row_dir, col_dir = orientation[:3], orientation[3:]  # type: ignore[index]
    normal = np.cross(row_dir, col_dir)
    normal /= np.linalg.norm(normal)
    n_frames = header_int(ds, "NumberOfFrames", path, low=1, what="the number of dose planes") or 1

    offsets = header_floats(ds, "GridFrameOffsetVector", path, low=-MAX_COORDINATE_MM, high=MAX_COORDINATE_MM,
                            what="the position of each dose plane in mm")
    offsets = np.atleast_1d(offsets if offsets is not None else np.zeros(0))
    if n_frames > 1 and offsets.size != n_frames:
        raise InputError(path, f"GridFrameOffsetVector (3004,000C) has {offsets.size} values for {n_frames} frames")
    if offsets.size and offsets[0] != 0:
        # absolute form: z positions of the frames, allowed for axial grids only
        if abs(abs(normal[2]) - 1) > 1e-6:
            raise InputError(path, "GridFrameOffsetVector does not start at 0 (absolute positions) on a non-axial grid")
        offsets = (offsets - position[2]) * normal[2]
    if n_frames > 1:
        steps = np.diff(offsets)
        step = float(np.median(steps))
        if step == 0 or np.any(np.abs(steps - step) > max(_OFFSET_TOLERANCE_MM, 0.01 * abs(step))):
            raise InputError(path, f"frames are not evenly spaced (GridFrameOffsetVector steps "
                                   f"{sorted(set(np.round(steps, 3)))} mm); expected one regular grid")
        step = float((offsets[-1] - offsets[0]) / (n_frames - 1))
    else:
        thickness = header_float(ds, "SliceThickness", path, non_negative=True, high=1000.0,
                                 what="the dose plane thickness in mm")
        step = thickness if thickness else 1.0

    _check_dose_pixel_bytes(path, ds, rows, columns, n_frames)  # type: ignore[arg-type]
    try:
        pixels = ds.pixel_array
    except Exception as exc:
        raise InputError(path, f"cannot decode the RT Dose pixel data ({type(exc).__name__}: {exc})") from exc
    pixels = np.asarray(pixels).reshape(n_frames, rows, columns)
    dose = (pixels.astype(np.float64) * scaling).astype(np.float32)
    if dose.size and not np.all(np.isfinite(dose)):
        raise InputError(path, "the dose holds NaN or infinite values (Pixel Data x DoseGridScaling (3004,000E)); "
                               "expected finite doses")
    if dose.size and float(dose.min()) < 0:
        raise InputError(path, f"the dose has negative values (min {float(dose.min()):g}); expected doses of 0 or more")

    slice_dir = normal if step > 0 else -normal
    row_spacing, col_spacing = (float(v) for v in pixel_spacing)  # type: ignore[union-attr]
    return Volume(
        values=dose,
        unit="Gy",
        spacing_mm=(col_spacing, row_spacing, abs(step)),
        origin_mm=tuple(position),  # type: ignore[arg-type]
        direction=np.column_stack([row_dir, col_dir, slice_dir]),
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID", "")),
        series_instance_uid=str(ds.get("SeriesInstanceUID", "")),
        study_instance_uid=str(ds.get("StudyInstanceUID", "")),
        description=f"RT Dose {ds.get('DoseType', '')} {ds.get('DoseSummationType', '')} "
                    f"[{ds.get('DoseUnits', '')}]".replace("  ", " "),
    )


def _check_dose_pixel_bytes(path: Path, ds: Dataset, rows: int, columns: int, n_frames: int) -> None:
    """Rows x Columns x frames x bytes per pixel must match the Pixel Data's length (uncompressed dose)."""
    syntax = pydicom.uid.UID(str(getattr(ds, "file_meta", {}).get("TransferSyntaxUID", "")))
    if "PixelData" not in ds or not syntax.is_transfer_syntax or syntax.is_compressed:
        return
    bits = header_int(ds, "BitsAllocated", path, low=8, high=64) or 32
    expected = rows * columns * n_frames * bits // 8
    found = len(ds.PixelData)
    if found not in (expected, expected + 1):
        raise InputError(path, f"Pixel Data (7FE0,0010) holds {found} bytes, but Rows (0028,0010) {rows} x Columns "
                               f"(0028,0011) {columns} x NumberOfFrames (0028,0008) {n_frames} x {bits} bits needs "
                               f"{expected}; the header and the pixels disagree")


def _ds_precise(value: float) -> str:
    """A positive number as a decimal string of at most 16 characters, keeping every digit that fits."""
    for digits in range(10, 0, -1):
        text = f"{value:.{digits}e}"
        if len(text) <= 16:
            return text
    return format_number_as_ds(value)

