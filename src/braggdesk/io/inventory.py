"""What a folder (or one file) of DICOM-RT holds, for ``braggdesk info`` and the GUI's patient tree.

Why a separate scan: a physicist points braggdesk at an export folder and
needs to see, before anything is computed, which CT series, structure sets,
plans and doses are in it and whether each one loads.  Each object is read by
our own readers, so a summary says exactly what a run would use, and a file
that would fail a run is listed with the same message (``problem``) instead of
stopping the scan.

Nothing identifying is kept: no names, IDs, birth dates or institutions;
files are named relative to the scanned folder.
"""

from __future__ import annotations

import collections
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pydicom

from braggdesk.errors import BraggdeskError, InputError

from .dicom_ct import CtSeriesInfo, FolderIndex, index_folder, list_ct_series_and_problems
from .header_values import whole_number
from .rtdose import read_rtdose, read_rtdose_info
from .rtplan import read_rt_ion_plan
from .uids import (CT_IMAGE_STORAGE, RT_DOSE_STORAGE, RT_ION_PLAN_STORAGE, RT_STRUCTURE_SET_STORAGE,
                   referenced_series_uids, sop_class_description)


@dataclass
class RoiSummary:
    number: int
    name: str
    roi_type: str  # RTROIInterpretedType
    n_contours: int
    volume_cm3: float | None = None  # from the rasterized contours; filled by the caller that can rasterize


@dataclass
class StructureSetSummary:
    file: str
    label: str
    frame_of_reference_uid: str
    referenced_series_uid: str
    rois: list[RoiSummary]
    problem: str = ""


@dataclass
class BeamSummary:
    name: str
    number: int
    gantry_angle_deg: float
    couch_angle_deg: float
    isocenter_mm: tuple[float, float, float]
    layers: int
    spots: int
    mu: float
    energy_min_mev: float
    energy_max_mev: float
    range_shifters: list[str]
    snout_position_mm: float | None


@dataclass
class PlanSummary:
    file: str
    label: str
    frame_of_reference_uid: str
    fractions: int
    beams: list[BeamSummary]
    total_mu: float
    problem: str = ""


@dataclass
class DoseSummary:
    file: str
    dose_units: str
    dose_type: str
    summation: str
    size: tuple[int, int, int]  # columns, rows, frames
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]
    max_dose_gy: float | None  # None when the units are RELATIVE
    frame_of_reference_uid: str
    referenced_plan_uid: str
    problem: str = ""


@dataclass
class Inventory:
    root: str
    ct_series: list[CtSeriesInfo] = field(default_factory=list)
    structure_sets: list[StructureSetSummary] = field(default_factory=list)
    plans: list[PlanSummary] = field(default_factory=list)
    doses: list[DoseSummary] = field(default_factory=list)
    other_objects: dict[str, int] = field(default_factory=dict)  # e.g. {"an MR image": 40}
    non_dicom_files: int = 0
    unreadable_files: list[str] = field(default_factory=list)
    file_problems: dict[str, str] = field(default_factory=dict)  # file -> why it cannot be used, one line each
    path: str = ""  # what was asked about: the folder, or the one file

    def as_dict(self) -> dict:
        """Plain types with units in the key names, for JSON."""
        out = asdict(self)
        out["ct_series"] = [_series_dict(s, self.root) for s in self.ct_series]
        return out


def scan(path: str | Path, index: FolderIndex | None = None) -> Inventory:
    """Inventory of a folder (recursively) or of a single DICOM file.

    Every file that cannot be used is named with its reason (``file_problems``):
    one that pydicom cannot parse, a header cut short, a CT slice whose header
    values fail the checks.  Asked about one file, the inventory is about that
    file only; a file that is not DICOM at all is an InputError.  Only regular
    files are opened: a named pipe would block the scan for ever.

    The headers come from the folder's one index (:func:`~.dicom_ct.index_folder`,
    passed in by a caller that has it, e.g. the workflow's Workspace); only the
    structure sets, plans and doses are read again, by their own readers.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    if not (path.is_dir() or path.is_file()):
        raise InputError(path, f"is {special_file_kind(path)}, not a regular file or folder; only regular files "
                               f"are read")
    single = path.is_file()
    root = path.parent if single else path
    if index is None:
        index = index_folder(root, [path] if single else None)
    if single and path not in index.sop_classes and path not in index.reasons:
        raise InputError(path, "is not a DICOM file (no 'DICM' marker after the 128-byte preamble)")
    inventory = Inventory(root=str(root), path=str(path), non_dicom_files=index.n_non_dicom)
    others: collections.Counter = collections.Counter()
    for file in index.unreadable:
        _unreadable(inventory, str(file.relative_to(root)), index.reasons[file])
    ct_series_uids = {s.series_uid for s in index.slices}
    for file, sop_class in index.sop_classes.items():
        name = str(file.relative_to(root))
        if sop_class == CT_IMAGE_STORAGE:
            continue
        if sop_class == RT_STRUCTURE_SET_STORAGE:
            try:
                ds = pydicom.dcmread(file, stop_before_pixels=True)
            except Exception as exc:  # changed or cut since the index read it
                _unreadable(inventory, name, f"cannot be read as DICOM ({type(exc).__name__}: {exc})")
                continue
            inventory.structure_sets.append(_structure_set(file, name, ds))
        elif sop_class == RT_ION_PLAN_STORAGE:
            inventory.plans.append(_plan(file, name))
        elif sop_class == RT_DOSE_STORAGE:
            inventory.doses.append(_dose(file, name))
        else:
            others[sop_class_description(sop_class)] += 1
    if ct_series_uids or index.bad_slices or any(c == CT_IMAGE_STORAGE for c in index.sop_classes.values()):
        series, problems = list_ct_series_and_problems(root, index if index.complete else None)
        if single:  # the one series the file belongs to, and the file's own problem
            series = [s for s in series if s.series_instance_uid in ct_series_uids]
            problems = {p: why for p, why in problems.items() if p == path}
        inventory.ct_series = series
        for file, why in problems.items():
            name = str(file.relative_to(root))
            if name not in inventory.file_problems:
                _unreadable(inventory, name, why)
    inventory.other_objects = dict(sorted(others.items()))
    return inventory


def special_file_kind(path: Path) -> str:
    """'a named pipe', 'a socket', 'a device': what a path that is neither a file nor a folder is."""
    mode = path.stat().st_mode
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _unreadable(inventory: Inventory, name: str, reason: str) -> None:
    if name not in inventory.unreadable_files:
        inventory.unreadable_files.append(name)
    inventory.file_problems[name] = reason


def _structure_set(file: Path, name: str, ds: pydicom.Dataset) -> StructureSetSummary:
    label = str(ds.get("StructureSetLabel") or "")
    try:
        types = {_roi_number(file, o, "ReferencedROINumber", "RTROIObservationsSequence"):
                 str(o.get("RTROIInterpretedType") or "")
                 for o in ds.get("RTROIObservationsSequence") or [] if o.get("ReferencedROINumber") not in (None, "")}
        contours = {_roi_number(file, c, "ReferencedROINumber", "ROIContourSequence"): len(c.get("ContourSequence") or [])
                    for c in ds.get("ROIContourSequence") or [] if c.get("ReferencedROINumber") not in (None, "")}
        rois = []
        for r in ds.get("StructureSetROISequence") or []:
            if r.get("ROINumber") in (None, ""):
                continue
            number = _roi_number(file, r, "ROINumber", "StructureSetROISequence")
            rois.append(RoiSummary(number=number, name=str(r.get("ROIName") or ""), roi_type=types.get(number, ""),
                                   n_contours=contours.get(number, 0)))
    except InputError as exc:
        return StructureSetSummary(file=name, label=label, frame_of_reference_uid="", referenced_series_uid="",
                                   rois=[], problem=exc.problem)
    frames = ds.get("ReferencedFrameOfReferenceSequence") or []
    series = referenced_series_uids(ds)
    frame = str(ds.get("FrameOfReferenceUID") or (frames[0].get("FrameOfReferenceUID", "") if frames else ""))
    empty = [r.name for r in rois if r.n_contours == 0 and r.roi_type.upper() not in ("MARKER", "ISOCENTER")]
    return StructureSetSummary(file=name, label=label, frame_of_reference_uid=frame,
                               referenced_series_uid=series[0] if series else "", rois=rois,
                               problem=f"ROIs without contours: {', '.join(empty)}" if empty else "")


def _roi_number(file: Path, item: pydicom.Dataset, keyword: str, sequence: str) -> int:
    """An ROI number of an RTSTRUCT item, a whole number, or the InputError that names it."""
    return whole_number(item.get(keyword), keyword, file, where=sequence, what="a whole ROI number")  # type: ignore


def _plan(file: Path, name: str) -> PlanSummary:
    try:
        plan = read_rt_ion_plan(file)
    except BraggdeskError as exc:
        return PlanSummary(file=name, label="", frame_of_reference_uid="", fractions=0, beams=[], total_mu=0.0,
                           problem=getattr(exc, "problem", str(exc)))
    beams = [BeamSummary(
        name=b.name, number=b.number, gantry_angle_deg=b.gantry_angle_deg, couch_angle_deg=b.couch_angle_deg,
        isocenter_mm=b.isocenter_mm, layers=len(b.layers), spots=b.n_spots, mu=round(b.total_mu, 4),
        energy_min_mev=float(b.energies_mev.min()), energy_max_mev=float(b.energies_mev.max()),
        range_shifters=list(b.range_shifter_ids), snout_position_mm=b.snout_position_mm) for b in plan.beams]
    return PlanSummary(file=name, label=plan.label, frame_of_reference_uid=plan.frame_of_reference_uid,
                       fractions=plan.fractions_planned, beams=beams, total_mu=round(sum(b.mu for b in beams), 4))


def _dose(file: Path, name: str) -> DoseSummary:
    try:
        info = read_rtdose_info(file)
        grid = read_rtdose(file)
    except BraggdeskError as exc:
        return DoseSummary(file=name, dose_units="", dose_type="", summation="", size=(0, 0, 0),
                           spacing_mm=(0.0, 0.0, 0.0), origin_mm=(0.0, 0.0, 0.0), max_dose_gy=None,
                           frame_of_reference_uid="", referenced_plan_uid="", problem=getattr(exc, "problem", str(exc)))
    nk, nj, ni = grid.shape
    peak = float(np.max(grid.values)) if grid.values.size else 0.0
    return DoseSummary(file=name, dose_units=info.dose_units, dose_type=info.dose_type, summation=info.summation,
                       size=(ni, nj, nk), spacing_mm=grid.spacing_mm, origin_mm=grid.origin_mm,
                       max_dose_gy=round(peak, 6) if info.dose_units.upper() == "GY" else None,
                       frame_of_reference_uid=grid.frame_of_reference_uid,
                       referenced_plan_uid=info.referenced_plan_uid)


def _series_dict(s: CtSeriesInfo, root: str) -> dict:
    d = asdict(s)
    folder = Path(s.folder)
    d["folder"] = str(folder.relative_to(root)) if folder.is_relative_to(root) else str(folder)
    d["transfer_syntaxes"] = [pydicom.uid.UID(t).name for t in s.transfer_syntaxes]
    return d
