"""A Workspace: a patient folder (or one file), its headers indexed once, and what is wrong with each item.

Why: ``braggdesk info``, the workstation's loader, the CT series chooser and the Python
API each used to scan a folder their own way, with their own error policy.  A Workspace
reads every header once (:func:`braggdesk.io.dicom_ct.index_folder`) and hands that
one index to the inventory (what each item is and its ``problem``), the CT reader and
the reference resolver (which CT series a plan was made on).  The policy is one:
an item that cannot be used is listed with the reason, never dropped in silence, and
loading refuses only what it was asked to read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ..errors import InputError
from ..io import uids
from ..io.ct_calibration import find_calibration_in_folder
from ..io.dicom_ct import FolderIndex, index_folder, read_ct_series, referenced_ct_series_uid
from ..io.inventory import Inventory, scan, special_file_kind
from ..io.rtdose import read_rtdose
from ..io.rtplan import read_rt_ion_plan
from ..io.rtstruct import read_rtstruct
from ..model import CtCalibration, Plan, StructureSet, Volume

KIND_OF_SOP_CLASS = {
    uids.CT_IMAGE_STORAGE: "CT",
    uids.RT_ION_PLAN_STORAGE: "RTPLAN",
    uids.RT_DOSE_STORAGE: "RTDOSE",
    uids.RT_STRUCTURE_SET_STORAGE: "RTSTRUCT",
}


@dataclass
class Loaded:
    """What one path held, read; ``notes`` say what was chosen or skipped and why."""

    path: Path
    ct: Volume | None = None
    ct_folder: Path | None = None
    calibration: CtCalibration | None = None
    plans: list[Plan] = field(default_factory=list)
    doses: list[tuple[Path, Volume]] = field(default_factory=list)
    structure_sets: list[StructureSet] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Workspace:
    """A folder (searched recursively) or one DICOM file, indexed once; open it with :meth:`open`."""

    path: Path
    index: FolderIndex

    @classmethod
    def open(cls, path: str | Path) -> "Workspace":
        """Index ``path`` (headers only); InputError when it does not exist or is not a file or folder."""
        path = Path(path)
        if not path.exists():
            raise InputError(path, "no such file or folder")
        if not (path.is_dir() or path.is_file()):
            raise InputError(path, f"is {special_file_kind(path)}, not a regular file or folder")
        root = path.parent if path.is_file() else path
        return cls(path, index_folder(root, [path] if path.is_file() else None))

    # -- what is here -----------------------------------------------------------------
    def files(self, kind: str) -> list[Path]:
        """The files of one kind (``CT``, ``RTSTRUCT``, ``RTPLAN``, ``RTDOSE``), in file order."""
        return [p for p, c in self.index.sop_classes.items() if KIND_OF_SOP_CLASS.get(c) == kind]

    @property
    def ct_series_uids(self) -> dict[str, list[Path]]:
        """The slices of each CT series, by SeriesInstanceUID."""
        out: dict[str, list[Path]] = {}
        for s in self.index.slices:
            out.setdefault(s.series_uid, []).append(s.path)
        return out

    @cached_property
    def inventory(self) -> Inventory:
        """Every CT series, structure set, plan and dose, each with its ``problem``; unusable files with theirs."""
        return scan(self.path, self.index)

    @property
    def problems(self) -> dict[str, str]:
        """File (relative to the folder) -> why it cannot be used: the one list of what is wrong here."""
        inv = self.inventory
        out = dict(inv.file_problems)
        for item in [*inv.structure_sets, *inv.plans, *inv.doses]:
            if item.problem:
                out.setdefault(item.file, item.problem)
        for series in inv.ct_series:
            if series.problems:
                out.setdefault(f"CT series {series.series_instance_uid}", "; ".join(series.problems))
        return out

    # -- reading ----------------------------------------------------------------------
    def plans(self) -> list[Plan]:
        """Every RT Ion Plan, read (an InputError names the first that cannot be)."""
        return [read_rt_ion_plan(f) for f in self.files("RTPLAN")]

    def plan(self, which: int | str | None = None) -> Plan:
        """One plan: by position, by label or file name, or (None) the only one; InputError listing them otherwise."""
        files = self.files("RTPLAN")
        if not files:
            raise InputError(self.path, "holds no RT Ion Plan")
        if isinstance(which, int):
            return read_rt_ion_plan(files[which])
        plans = [read_rt_ion_plan(f) for f in files]
        if which is None:
            if len(plans) > 1:
                raise InputError(self.path, f"holds {len(plans)} RT Ion Plans, choose one: "
                                            f"{', '.join(repr(p.label) for p in plans)}")
            return plans[0]
        for f, p in zip(files, plans):
            if which in (p.label, f.name):
                return p
        raise InputError(self.path, f"holds no plan {which!r}; it holds {', '.join(repr(p.label) for p in plans)}")

    def ct(self, referenced_by: str | Path | Plan | None = None, series_instance_uid: str | None = None) -> Volume:
        """The CT series: the only one, the one given, or the one a plan / structure set / dose refers to."""
        ref = referenced_by.source_path if isinstance(referenced_by, Plan) else referenced_by
        return read_ct_series(self.path, series_instance_uid, referenced_by=ref or None, index=self.index)

    def structure_sets(self) -> list[StructureSet]:
        return [read_rtstruct(f) for f in self.files("RTSTRUCT")]

    def doses(self) -> list[tuple[Path, Volume]]:
        """Each RTDOSE as read, on its own grid (io/rtdose.py), with its file."""
        return [(f, read_rtdose(f)) for f in self.files("RTDOSE")]

    def calibration(self) -> CtCalibration | None:
        """The CT folder's own calibration (``ct_calibration.csv``), or None."""
        series = self.ct_series_uids
        if not series:
            return None
        return find_calibration_in_folder(_common_folder([p for files in series.values() for p in files]))

    def load(self) -> Loaded:
        """Everything braggdesk knows here, read: what the workstation shows when a folder is opened.

        With several CT series, the one a structure set, plan or dose refers to is read (or,
        when no reference resolves, the largest, saying so).  InputError when nothing usable is here.
        """
        if not any(KIND_OF_SOP_CLASS.get(c) for c in self.index.sop_classes.values()):
            raise InputError(self.path, f"no DICOM CT, RT Ion Plan, RT Dose or RT Structure Set found among "
                                        f"{self.index.n_files} file(s); expected a patient folder exported from a "
                                        f"planning system (or `braggdesk phantom`)")
        out = Loaded(self.path)
        if self.ct_series_uids:
            self._load_ct(out)
        out.plans = self.plans()
        out.doses = self.doses()
        out.structure_sets = self.structure_sets()
        return out

    def _load_ct(self, out: Loaded) -> None:
        series = self.ct_series_uids
        chosen = max(series, key=lambda uid: (len(series[uid]), uid))
        root = self.path.parent if self.path.is_file() else self.path
        index = self.index if self.index.complete else None
        note = ""
        if len(series) > 1:
            note = "none is referred to by the structure sets, plans or doses here: loaded the largest"
            for ref in self.files("RTSTRUCT") + self.files("RTPLAN") + self.files("RTDOSE"):
                try:
                    uid = referenced_ct_series_uid(root, ref, index=index)
                except InputError:
                    continue
                if uid in series:
                    chosen, note = uid, f"loaded the one {ref.name} refers to"
                    break
        out.ct = read_ct_series(root, chosen, index=index)
        out.ct_folder = _common_folder(series[chosen])
        out.calibration = find_calibration_in_folder(out.ct_folder)
        if note:
            label = out.ct.description or chosen
            out.notes.append(f"{len(series)} CT series found; {note} ({label}, {len(series[chosen])} slices)")


def _common_folder(files: list[Path]) -> Path:
    return Path(os.path.commonpath([f.parent for f in files]))


def load_path(path: str | Path) -> Loaded:
    """Read everything braggdesk knows in a folder or file (:meth:`Workspace.load`)."""
    return Workspace.open(path).load()
