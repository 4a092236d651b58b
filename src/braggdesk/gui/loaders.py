"""From a path to model objects: which reader handles which kind of DICOM file.

``READERS`` maps a kind (CT, RTPLAN, RTDOSE, RTSTRUCT) to a reader;
:func:`rasterize` turns a StructureSet into masks on the CT grid
(analysis.rasterize.rasterize_structure_set).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pydicom

from ..analysis.rasterize import rasterize_structure_set
from ..errors import InputError
from ..io import uids
from ..io.ct_calibration import find_calibration_in_folder
from ..io.dicom_ct import read_ct_series, referenced_ct_series_uid
from ..io.rtdose import read_rtdose
from ..io.rtplan import read_rt_ion_plan
from ..io.rtstruct import read_rtstruct
from ..model import CtCalibration, Plan, StructureMask, StructureSet, Volume

KIND_OF_SOP_CLASS = {
    uids.CT_IMAGE_STORAGE: "CT",
    uids.RT_ION_PLAN_STORAGE: "RTPLAN",
    uids.RT_DOSE_STORAGE: "RTDOSE",
    uids.RT_STRUCTURE_SET_STORAGE: "RTSTRUCT",
}

READERS: dict[str, Callable] = {
    "CT": read_ct_series,  # folder -> Volume
    "RTPLAN": read_rt_ion_plan,  # file -> Plan
    "RTDOSE": read_rtdose,  # file -> Volume (dose in Gy)
    "RTSTRUCT": read_rtstruct,  # file -> StructureSet
}
MAX_FILES = 5000


@dataclass
class Loaded:
    """What one path held; ``notes`` say what was skipped and why."""

    path: Path
    ct: Volume | None = None
    ct_folder: Path | None = None
    calibration: CtCalibration | None = None
    plans: list[Plan] = field(default_factory=list)
    doses: list[tuple[Path, Volume]] = field(default_factory=list)
    structure_sets: list[StructureSet] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def classify(path: Path) -> dict[str, list[Path]]:
    """DICOM files under ``path`` (a file or a folder, searched recursively) by kind; CT slices
    also by series, under the key ``"CT:" + SeriesInstanceUID`` (read in the same pass)."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())[:MAX_FILES]
    kinds: dict[str, list[Path]] = {}
    for f in files:
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SOPClassUID", "SeriesInstanceUID"])
        except Exception:  # not DICOM (calibration CSVs, READMEs): skipped, counted below
            continue
        kind = KIND_OF_SOP_CLASS.get(uids.sop_class_of(ds))
        if kind:
            kinds.setdefault(kind, []).append(f)
        if kind == "CT":
            kinds.setdefault(f"CT:{ds.get('SeriesInstanceUID', '')}", []).append(f)
    return kinds


def load_path(path: str | Path) -> Loaded:
    """Read everything braggdesk knows in a folder or file; InputError when nothing usable is there."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "does not exist; expected a folder with a DICOM CT series, RT Ion Plan, RT Dose "
                               "or RT Structure Set files")
    kinds = classify(path)
    if not kinds:
        n = 1 if path.is_file() else sum(1 for p in path.rglob("*") if p.is_file())
        raise InputError(path, f"no DICOM CT, RT Ion Plan, RT Dose or RT Structure Set found among {n} file(s); "
                               f"expected a patient folder exported from a planning system (or `braggdesk phantom`)")
    out = Loaded(path)
    if "CT" in kinds:
        referrers = kinds.get("RTSTRUCT", []) + kinds.get("RTPLAN", []) + kinds.get("RTDOSE", [])
        series = {k[3:]: files for k, files in kinds.items() if k.startswith("CT:")}
        _load_ct(out, series, referrers)
    for f in kinds.get("RTPLAN", []):
        out.plans.append(READERS["RTPLAN"](f))
    for f in kinds.get("RTDOSE", []):
        out.doses.append((f, READERS["RTDOSE"](f)))
    for f in kinds.get("RTSTRUCT", []):
        out.structure_sets.append(READERS["RTSTRUCT"](f))
    return out


def _load_ct(out: Loaded, series: dict[str, list[Path]], referrers: list[Path]) -> None:
    """The CT series to show: the only one, or the one the structure set, plan or dose refers to,
    or (no reference resolves) the one with most slices, saying so."""
    root = Path(os.path.commonpath([f.parent for files in series.values() for f in files]))
    chosen = max(series, key=lambda uid: (len(series[uid]), uid))
    note = ""
    if len(series) > 1:
        note = "none is referred to by the structure sets, plans or doses here: loaded the largest"
        for ref in referrers:
            try:
                uid = referenced_ct_series_uid(root, ref)
            except InputError:
                continue
            if uid not in series:  # beyond MAX_FILES
                continue
            chosen = uid
            note = f"loaded the one {ref.name} refers to"
            break
    out.ct = read_ct_series(root, chosen)
    out.ct_folder = Path(os.path.commonpath([f.parent for f in series[chosen]]))
    out.calibration = find_calibration_in_folder(out.ct_folder)
    if note:
        label = out.ct.description or chosen
        out.notes.append(f"{len(series)} CT series found; {note} ({label}, {len(series[chosen])} slices)")


def rasterize(ss: StructureSet, ct: Volume) -> list[StructureMask]:
    """Masks of a structure set on the CT grid."""
    return rasterize_structure_set(ss, ct)
