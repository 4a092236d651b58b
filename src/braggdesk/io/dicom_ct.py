"""A DICOM CT series to a :class:`Volume` and back.

Reading indexes a folder (recursively, headers only), picks the CT Image
Storage slices of one series and checks what a dose engine silently depends on:
one orientation, one matrix size, one pixel spacing, one frame of reference,
evenly spaced slices along the slice normal and no gantry tilt.  Anything else
is an :class:`InputError` that names the folder or slice and says what to do.

Geometry (see :mod:`braggdesk.model.volume`): ``hu[k, j, i]``; columns of
``direction`` are the row direction cosines (increasing column index i), the
column direction cosines (increasing row index j) and the slice normal
(row x column).  Slices are always ordered along +normal, so the third column
is the normal itself.  DICOM PixelSpacing is [row spacing, column spacing],
hence ``spacing_mm = (PixelSpacing[1], PixelSpacing[0], slice step)``.

The folder's headers come from its one index (:mod:`.ct_folder_index`); writing
a Volume as a CT series is :mod:`.ct_writer`.  Both are re-exported here, where
callers have always found them.
"""

from __future__ import annotations

import collections
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut

from braggdesk.errors import InputError
from braggdesk.model import Volume

from .ct_folder_index import CtSliceHeader, FolderIndex, check_pixel_bytes, check_rescale, index_folder, regular_files
from .ct_writer import write_ct_series
from .uids import CT_IMAGE_STORAGE, referenced_series_uids, sop_class_description, sop_class_of

__all__ = ["CtSeriesInfo", "FolderIndex", "index_folder", "list_ct_series", "list_ct_series_and_problems",
           "orientation_name", "read_ct_series", "referenced_ct_series_uid", "regular_files", "write_ct_series"]

_ORIENTATION_TOLERANCE = 1e-4  # direction cosines
_SPACING_TOLERANCE_MM = 1e-3  # pixel spacing between slices of one series
_GAP_RELATIVE_TOLERANCE = 0.01  # slice step may vary by 1 % ...
_GAP_ABSOLUTE_TOLERANCE_MM = 0.01  # ... or 0.01 mm, whichever is larger


@dataclass(frozen=True)
class CtSeriesInfo:
    """One CT series of a folder, from headers only: what ``braggdesk info`` and a series chooser show.

    ``problems`` says, in words, why :func:`read_ct_series` would refuse the
    series (empty when it reads); ``notes`` what is unusual but fine (oblique
    orientation, compressed pixels).  No patient identity: the description is
    the SeriesDescription, which names the scan.
    """

    series_instance_uid: str
    study_instance_uid: str
    frame_of_reference_uid: str
    description: str
    n_slices: int
    size: tuple[int, int, int]  # columns, rows, slices
    spacing_mm: tuple[float, float, float] | None  # column, row, slice; None when the series is irregular
    orientation: str  # axial, coronal, sagittal or oblique
    transfer_syntaxes: tuple[str, ...]
    folder: Path
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------- listing


def list_ct_series(folder: str | Path) -> list[CtSeriesInfo]:
    """Every CT series under ``folder`` (recursively), by headers only, largest first."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "no such folder; expected a folder holding DICOM files")
    return list_ct_series_and_problems(folder)[0]


def list_ct_series_and_problems(folder: str | Path, index: FolderIndex | None = None
                                ) -> tuple[list[CtSeriesInfo], dict[Path, str]]:
    """:func:`list_ct_series`, and the files that could not be indexed with the reason for each (unreadable
    DICOM files, CT slices whose header values fail the checks), for ``info`` to list one line each.
    ``index``: the folder's :func:`index_folder`, when the caller has it already."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "no such folder; expected a folder holding DICOM files")
    if index is None or not index.complete or index.root != folder:
        index = index_folder(folder)
    out = [_series_info(folder, uid, group, index.other_images)
           for uid, group in _group_by_series(index.slices).items()]
    return sorted(out, key=lambda info: (-info.n_slices, info.series_instance_uid)), dict(index.reasons)


def _mixed_modalities(group: list[CtSliceHeader], other_images: dict[str, list[tuple[Path, str]]]) -> str:
    """A problem sentence when images of another modality share the CT series' UID (an MR slice in a CT series)."""
    uid = group[0].series_uid
    strangers = list(other_images.get(uid, []))
    strangers += [(s.path, s.modality) for s in group if s.modality and s.modality.upper() != "CT"]
    if not strangers:
        return ""
    path, modality = strangers[0]
    more = f" and {len(strangers) - 1} more" if len(strangers) > 1 else ""
    return (f"CT series {uid} holds a {modality} image ({path.name}{more}) under the same SeriesInstanceUID "
            f"(0020,000E): a mixed series; remove the {modality} files or export the CT again")


def _series_info(folder: Path, uid: str, group: list[CtSliceHeader],
                 other_images: dict[str, list[tuple[Path, str]]] | None = None) -> CtSeriesInfo:
    ref = group[0]
    problems: list[str] = []
    notes: list[str] = []
    mixed = _mixed_modalities(group, other_images or {})
    if mixed:
        problems.append(mixed)
    spacing = None
    orientation = "unknown"
    try:
        _, direction, spacing = _check_geometry(folder, group)
        orientation = orientation_name(direction)
    except InputError as exc:
        problems.append(exc.problem if exc.path == folder else f"{exc.path.name}: {exc.problem}")
        if ref.orientation is not None and len(ref.orientation) == 6:
            row_dir, col_dir = ref.orientation[:3], ref.orientation[3:]
            orientation = orientation_name(np.column_stack([row_dir, col_dir, np.cross(row_dir, col_dir)]))
    if orientation not in ("axial", "unknown"):
        notes.append(f"{orientation} slices (not axial): the dose grid follows the CT's orientation")
    syntaxes = tuple(sorted({s.transfer_syntax for s in group}))
    compressed = [name for name in syntaxes if pydicom.uid.UID(name).is_transfer_syntax
                  and pydicom.uid.UID(name).is_compressed]
    if compressed:
        notes.append("compressed pixel data (" + ", ".join(pydicom.uid.UID(n).name for n in compressed) + ")")
    common = Path(os.path.commonpath([str(s.path.parent) for s in group]))
    return CtSeriesInfo(
        series_instance_uid=uid, study_instance_uid=ref.study_uid, frame_of_reference_uid=ref.frame_of_reference_uid,
        description=ref.description, n_slices=len(group), size=(ref.columns, ref.rows, len(group)),
        spacing_mm=spacing, orientation=orientation, transfer_syntaxes=syntaxes, folder=common,
        problems=tuple(problems), notes=tuple(notes))


def orientation_name(direction: np.ndarray) -> str:
    """'axial', 'coronal' or 'sagittal' when the slice normal is along z, y or x (within 2.6 deg), else 'oblique'."""
    normal = np.abs(np.asarray(direction, dtype=float)[:, 2])
    for axis, name in ((2, "axial"), (1, "coronal"), (0, "sagittal")):
        if normal[axis] > 0.999:
            return name
    return "oblique"


def referenced_ct_series_uid(folder: str | Path, referencing: str | Path, index: FolderIndex | None = None) -> str:
    """SeriesInstanceUID of the CT series in ``folder`` that an RTSTRUCT, RT (Ion) Plan or RTDOSE refers to.

    An RTSTRUCT names its series; a plan names its structure set, which names
    the series; a dose names its plan.  Without a chain of references to
    follow, the one CT series on the referencing file's frame of reference is
    taken; none, or several, is an InputError.
    """
    folder = Path(folder)
    if index is None or not index.complete or index.root != folder:
        index = index_folder(folder)
    return _referenced_series_uid(folder, Path(referencing), _group_by_series(index.slices), index.rt_objects)


def _referenced_series_uid(folder: Path, referencing: Path, by_series: dict[str, list[CtSliceHeader]],
                           rt_objects: dict[str, Dataset]) -> str:
    try:
        ds = pydicom.dcmread(referencing, stop_before_pixels=True)
    except Exception as exc:
        raise InputError(referencing, f"cannot be read as DICOM ({type(exc).__name__}: {exc}); expected an "
                                      f"RTSTRUCT, RT Plan or RT Dose") from exc
    if not by_series:
        raise InputError(folder, "holds no CT series")
    objects = rt_objects | {str(ds.get("SOPInstanceUID", "")): ds}
    seen: set[str] = set()
    current: Dataset | None = ds
    while current is not None and str(current.get("SOPInstanceUID", "")) not in seen:
        seen.add(str(current.get("SOPInstanceUID", "")))
        for uid in referenced_series_uids(current):
            if uid in by_series:
                return uid
        next_uid = ""
        for keyword in ("ReferencedStructureSetSequence", "ReferencedRTPlanSequence"):
            items = current.get(keyword) or []
            if items:
                next_uid = str(items[0].get("ReferencedSOPInstanceUID", ""))
                break
        current = objects.get(next_uid)
    frame = str(ds.get("FrameOfReferenceUID", ""))
    on_frame = [uid for uid, group in by_series.items() if group[0].frame_of_reference_uid == frame]
    if len(on_frame) == 1:
        return on_frame[0]
    if not on_frame:
        raise InputError(referencing, f"refers to frame of reference {frame or '(none)'}, but no CT series in "
                                      f"{folder} is on it; it holds {_series_list(by_series)}")
    raise InputError(referencing, f"{len(on_frame)} CT series in {folder} share its frame of reference "
                                  f"{frame} and nothing says which one it was planned on: choose one by "
                                  f"SeriesInstanceUID: {_series_list({u: by_series[u] for u in on_frame})}")


def _group_by_series(slices: list[CtSliceHeader]) -> dict[str, list[CtSliceHeader]]:
    by_series: dict[str, list[CtSliceHeader]] = collections.defaultdict(list)
    for s in slices:
        by_series[s.series_uid].append(s)
    return dict(by_series)


# ----------------------------------------------------------------------------------------- reading


def read_ct_series(folder: str | Path, series_instance_uid: str | None = None, *,
                   referenced_by: str | Path | None = None, index: FolderIndex | None = None) -> Volume:
    """Read one CT series from ``folder`` (searched recursively) into a float32 HU Volume.

    With several CT series in the folder, ``series_instance_uid`` chooses one,
    or ``referenced_by`` (an RTSTRUCT, plan or dose, see
    :func:`referenced_ct_series_uid`; not consulted when the folder holds one
    series); without either the InputError lists them.  A path to a single
    slice reads the series that slice belongs to from the slice's folder.
    Compressed transfer syntaxes are decoded by pydicom's plugins (pylibjpeg
    for JPEG, JPEG-LS and JPEG 2000; RLE built in).  ``index``: the folder's
    :func:`index_folder` when the caller has it (its headers are not read again).
    """
    folder = Path(folder)
    slice_series = None
    if folder.is_file():
        try:
            ds = pydicom.dcmread(folder, stop_before_pixels=True, specific_tags=["SOPClassUID", "SeriesInstanceUID"])
        except Exception as exc:
            raise InputError(folder, f"cannot be read as DICOM ({exc}); expected a CT slice or a folder") from exc
        if sop_class_of(ds) != CT_IMAGE_STORAGE:
            found = sop_class_description(sop_class_of(ds))
            raise InputError(folder, f"is {found}, expected a CT image or a folder of them")
        slice_series = str(ds.get("SeriesInstanceUID", ""))
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(folder, "no such folder; expected a folder holding a DICOM CT series")

    if index is None or not index.complete or index.root != folder:
        index = index_folder(folder)
    unreadable = index.unreadable
    if not index.slices:
        raise InputError(folder, _nothing_found_message(index))
    if unreadable:  # it may be a slice of the series: reading on could silently drop it
        raise InputError(unreadable[0], f"cannot be read as DICOM (truncated or corrupt), next to "
                                        f"{len(index.slices)} CT slices; remove it or export the series again"
                                        + (f" ({len(unreadable) - 1} more such files)" if len(unreadable) > 1 else ""))
    if index.bad_slices:  # the same words as ``info``: the slice, the tag and the value
        first = index.bad_slices[0]
        more = len(index.bad_slices) - 1
        raise InputError(first.path, first.problem + (f" ({more} more CT slice{'s' if more > 1 else ''} with bad "
                                                      f"header values)" if more else ""))

    by_series = _group_by_series(index.slices)
    if series_instance_uid is None and referenced_by is not None and len(by_series) > 1:
        series_instance_uid = _referenced_series_uid(folder, Path(referenced_by), by_series, index.rt_objects)
    if slice_series is not None:
        series_instance_uid = series_instance_uid or slice_series
    if series_instance_uid is not None:
        if series_instance_uid not in by_series:
            raise InputError(folder, f"holds no CT series {series_instance_uid}; it holds {_series_list(by_series)}")
        chosen = by_series[series_instance_uid]
    elif len(by_series) > 1:
        raise InputError(folder, f"holds {len(by_series)} CT series, choose one by SeriesInstanceUID: "
                                 f"{_series_list(by_series)}")
    else:
        chosen = next(iter(by_series.values()))

    mixed = _mixed_modalities(chosen, index.other_images)
    if mixed:
        raise InputError(folder, mixed)
    ordered, direction, spacing_mm = _check_geometry(folder, chosen)
    hu = _read_pixels(ordered)
    first = ordered[0]
    return Volume(
        values=hu,
        spacing_mm=spacing_mm,
        origin_mm=tuple(first.position),  # type: ignore[arg-type]
        direction=direction,
        frame_of_reference_uid=first.frame_of_reference_uid,
        series_instance_uid=first.series_uid,
        study_instance_uid=first.study_uid,
        patient_position=first.patient_position or "HFS",
        description=first.description,
    )


def _nothing_found_message(index: FolderIndex) -> str:
    n_files, n_non_dicom, unreadable = index.n_files, index.n_non_dicom, index.unreadable
    if n_files == 0:
        return "the folder is empty; expected a DICOM CT series"
    found = [f"{name} x{count}" for name, count in sorted(index.others.items())]
    if n_non_dicom:
        found.append(f"{n_non_dicom} non-DICOM file{'s' if n_non_dicom > 1 else ''}")
    if unreadable:
        found.append(f"{len(unreadable)} unreadable DICOM file{'s' if len(unreadable) > 1 else ''} "
                     f"(e.g. {unreadable[0].name})")
    return f"{n_files} file{'s' if n_files > 1 else ''}, none a CT image; found {', '.join(found)}"


def _series_list(by_series: dict[str, list[CtSliceHeader]]) -> str:
    items = []
    for uid, group in by_series.items():
        desc = group[0].description
        items.append(f"{uid} ({len(group)} slice{'s' if len(group) > 1 else ''}{', ' + repr(desc) if desc else ''})")
    return "; ".join(items)


def _check_geometry(folder: Path, slices: list[CtSliceHeader]) -> tuple[list[CtSliceHeader], np.ndarray, tuple[float, float, float]]:
    """Sort along the slice normal and check the series is one regular grid."""
    for s in slices:
        for name, value, size in (("ImagePositionPatient (0020,0032)", s.position, 3),
                                  ("ImageOrientationPatient (0020,0037)", s.orientation, 6),
                                  ("PixelSpacing (0028,0030)", s.pixel_spacing, 2)):
            if value is None or len(value) != size:
                raise InputError(s.path, f"CT slice has no {name} with {size} values; cannot place it in patient space")
    ref = slices[0]
    ref_orientation = np.asarray(ref.orientation, dtype=float)
    ref_spacing = np.asarray(ref.pixel_spacing, dtype=float)
    for s in slices[1:]:
        orientation = np.asarray(s.orientation, dtype=float)
        spacing = np.asarray(s.pixel_spacing, dtype=float)
        if not np.allclose(orientation, ref_orientation, atol=_ORIENTATION_TOLERANCE):
            raise InputError(s.path, f"ImageOrientationPatient {orientation.tolist()} differs from "
                                     f"{ref_orientation.tolist()} of {ref.path.name}; one series must have one "
                                     f"orientation")
        if (s.rows, s.columns) != (ref.rows, ref.columns):
            raise InputError(s.path, f"slice is {s.rows}x{s.columns} pixels, {ref.path.name} is "
                                     f"{ref.rows}x{ref.columns}; slices of one series must have one size")
        if not np.allclose(spacing, ref_spacing, atol=_SPACING_TOLERANCE_MM):
            raise InputError(s.path, f"PixelSpacing {spacing.tolist()} mm differs from {ref_spacing.tolist()} mm "
                                     f"of {ref.path.name}")
        if s.frame_of_reference_uid != ref.frame_of_reference_uid:
            raise InputError(s.path, f"FrameOfReferenceUID {s.frame_of_reference_uid} differs from "
                                     f"{ref.frame_of_reference_uid} of {ref.path.name}")

    row_dir, col_dir = ref_orientation[:3], ref_orientation[3:]
    normal = np.cross(row_dir, col_dir)
    norm = float(np.linalg.norm(normal))
    if norm < 0.5:
        raise InputError(ref.path, f"ImageOrientationPatient {ref_orientation.tolist()} does not hold two "
                                   f"perpendicular unit vectors")
    normal /= norm
    where = [float(np.dot(np.asarray(s.position, dtype=float), normal)) for s in slices]
    order = np.argsort(where, kind="stable")
    ordered = [slices[i] for i in order]
    where_sorted = np.asarray([where[i] for i in order])
    axis = "z" if abs(normal[2]) > 0.999 else "position along the slice normal"

    if len(ordered) == 1:
        step = ordered[0].slice_thickness
        if not step or step <= 0:
            raise InputError(ordered[0].path, "a single CT slice without SliceThickness (0018,0050): "
                                              "the slice spacing is unknown")
    else:
        step = _uniform_step(folder, ordered, where_sorted, axis)
        _check_no_tilt(folder, ordered, normal)

    direction = np.column_stack([row_dir, col_dir, normal])
    row_spacing, col_spacing = ref_spacing
    return ordered, direction, (float(col_spacing), float(row_spacing), float(step))


def _uniform_step(folder: Path, ordered: list[CtSliceHeader], where: np.ndarray, axis: str) -> float:
    """Median step between slice positions; an InputError describing any slice that breaks it."""
    diffs = np.diff(where)
    step = float(np.median(diffs))
    for i, d in enumerate(diffs):
        if d < _GAP_ABSOLUTE_TOLERANCE_MM:
            raise InputError(folder, f"two CT slices at {axis}={where[i]:g} mm ({ordered[i].path.name} and "
                                     f"{ordered[i + 1].path.name}): a duplicate slice or two series with the "
                                     f"same SeriesInstanceUID")
    if step <= 0:
        raise InputError(folder, "cannot find the slice spacing of the CT series")
    tolerance = max(_GAP_RELATIVE_TOLERANCE * step, _GAP_ABSOLUTE_TOLERANCE_MM)
    bad = np.flatnonzero(np.abs(diffs - step) > tolerance)
    if bad.size:
        problems = []
        for i in bad[:3]:
            d = float(diffs[i])
            ratio = d / step
            if abs(ratio - round(ratio)) * step <= tolerance and round(ratio) >= 2:
                missing = int(round(ratio)) - 1
                why = "a slice is missing" if missing == 1 else f"{missing} slices are missing"
            else:
                why = "irregular slice spacing"
            problems.append(f"a {d:g} mm gap between {axis}={where[i]:g} and {axis}={where[i + 1]:g}: {why}")
        more = f" (and {bad.size - 3} more)" if bad.size > 3 else ""
        raise InputError(folder, f"slice spacing {step:g} mm except {'; '.join(problems)}{more}; "
                                 f"a dose grid needs evenly spaced slices")
    return float((where[-1] - where[0]) / (len(where) - 1))


def _check_no_tilt(folder: Path, ordered: list[CtSliceHeader], normal: np.ndarray) -> None:
    shift = np.asarray(ordered[-1].position) - np.asarray(ordered[0].position)
    in_plane = shift - np.dot(shift, normal) * normal
    if np.linalg.norm(in_plane) > max(_GAP_ABSOLUTE_TOLERANCE_MM, 1e-3 * np.linalg.norm(shift)):
        raise InputError(folder, f"slices move {np.linalg.norm(in_plane):.2f} mm within their plane from first to "
                                 f"last (gantry-tilted acquisition); tilted CT series are not supported, "
                                 f"reconstruct or resample without tilt")


def _read_pixels(ordered: list[CtSliceHeader]) -> np.ndarray:
    ref = ordered[0]
    hu = np.empty((len(ordered), ref.rows, ref.columns), dtype=np.float32)
    for k, s in enumerate(ordered):
        try:
            ds = pydicom.dcmread(s.path)
        except Exception as exc:
            raise InputError(s.path, f"cannot be read as DICOM ({type(exc).__name__}: {exc})") from exc
        if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
            raise InputError(s.path, "CT slice has no Pixel Data (7FE0,0010)")
        check_pixel_bytes(s.path, ds, len(ds.PixelData) if "PixelData" in ds else None)
        check_rescale(s.path, ds)
        try:
            pixels = ds.pixel_array
        except Exception as exc:
            raise InputError(s.path, f"cannot decode the CT pixel data ({type(exc).__name__}: {exc})") from exc
        if pixels.shape != (ref.rows, ref.columns):
            raise InputError(s.path, f"pixel data has shape {pixels.shape}, expected one frame of "
                                     f"{ref.rows}x{ref.columns}")
        hu[k] = apply_modality_lut(pixels, ds)
    return hu


