"""What is open: one patient's CT, structures, plans and doses (no Qt), and how a loaded folder joins it.

Loading something new adds to the session; a failed load leaves it as it was,
so nothing loaded or computed is lost (:func:`merge_loaded` checks first, then
builds the new session).  Doses are kept on the CT grid (imported
RTDOSEs are resampled once, when they are added) so views, DVHs and the cursor
readout index every array the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..analysis.rasterize import rasterize_structure_set
from ..analysis.resample import resample
from ..errors import BraggdeskError
from ..io.rtdose import check_dose_grid_on_ct, read_rtdose_info
from ..model import BeamModel, CtCalibration, DoseResult, Plan, StructureMask, StructureSet, Volume
from .workspace import Loaded

NO_CT_HU = -1000.0  # the stand-in "CT" of a folder without one (its RTDOSE grid): air, black in any window


@dataclass
class DoseEntry:
    """A dose on the CT grid: a computed one (with uncertainty and LETd) or an imported one."""

    label: str
    dose_gy: np.ndarray
    uncertainty: np.ndarray | None = None  # relative
    let_kev_um: np.ndarray | None = None
    partial: bool = False
    running: bool = False
    result: DoseResult | None = None
    max_gy: float | None = None  # cached maximum (a run's worker computes it off the GUI thread)
    #: the dose of one fraction (a Monte Carlo run of a DICOM plan, whose MU are one fraction's; an RT Dose of
    #: summation FRACTION), not the course's (the planning panel's final dose; an RT Dose of summation PLAN)
    per_fraction: bool = False

    @property
    def max_dose_gy(self) -> float:
        """The maximum dose, scanned once (1.9 M voxels cost milliseconds the GUI thread should not spend twice)."""
        if self.max_gy is None:
            self.max_gy = float(self.dose_gy.max()) if self.dose_gy.size else 0.0
        return self.max_gy

    @property
    def title(self) -> str:
        tags = " (running)" if self.running else " (PARTIAL)" if self.partial else ""
        return self.label + tags

    @classmethod
    def of_result(cls, label: str, result: DoseResult, running: bool = False,
                  max_gy: float | None = None) -> "DoseEntry":
        """The entry of a Monte Carlo run of a plan: one fraction's dose."""
        return cls(label, result.dose_gy, result.uncertainty, result.let_kev_um, result.partial, running, result,
                   max_gy, per_fraction=True)


@dataclass
class Session:
    ct: Volume | None = None
    ct_source: str = ""
    calibration: CtCalibration | None = None
    beam_model: BeamModel | None = None
    structure_sets: list[StructureSet] = field(default_factory=list)
    masks: list[StructureMask] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    doses: list[DoseEntry] = field(default_factory=list)
    current_dose: int = -1
    visible_structures: set[str] = field(default_factory=set)
    ct_placeholder: bool = False  # no CT was loaded: ``ct`` is an empty grid (a dose's) to show things on
    #: while ``ct`` is a placeholder: the RTDOSEs as read, on their own grids, for the CT to take over once opened
    placeholder_doses: list[tuple[Path, Volume]] = field(default_factory=list)

    @property
    def dose(self) -> DoseEntry | None:
        return self.doses[self.current_dose] if 0 <= self.current_dose < len(self.doses) else None

    def add_dose(self, entry: DoseEntry) -> int:
        self.doses.append(entry)
        self.current_dose = len(self.doses) - 1
        return self.current_dose

    def add_masks(self, masks: list[StructureMask]) -> None:
        names = {m.name for m in self.masks}
        for m in masks:
            if m.name not in names:
                self.masks.append(m)
                self.visible_structures.add(m.name)

    def summary(self) -> str:
        parts = []
        if self.ct is not None:
            kind = "dose grid (no CT)" if self.ct_placeholder else "CT"
            parts.append(f"{kind} {'x'.join(map(str, self.ct.shape[::-1]))}")
        parts += [f"{len(self.masks)} structures"] if self.masks else []
        parts += [f"{len(self.plans)} plan(s)"] if self.plans else []
        parts += [f"{len(self.doses)} dose(s)"] if self.doses else []
        return ", ".join(parts) or "nothing loaded"


@dataclass
class Merge:
    """A loaded folder joined to the open session: the session to show, and the slow part still to do
    (imported doses to resample, structure sets to rasterize: :func:`prepare_loaded`, off the GUI thread)."""

    session: Session
    new_ct: bool
    doses: list[tuple[Path, Volume]]
    structure_sets: list[StructureSet]
    log: list[str] = field(default_factory=list)


def merge_loaded(old: Session, loaded: Loaded) -> Merge:
    """Join ``loaded`` to ``old``: checks first (BraggdeskError, ``old`` untouched), then a new or grown session.

    A new CT replaces the open patient.  A folder with doses but no CT (a planning system's
    RS + RP + RD export) is shown on the first dose's grid, with an empty stand-in CT that
    cannot be run on; the CT, once opened (same frame of reference), takes over its plans,
    structures and doses.  ``old`` is changed only when no new session is made (plans added).
    """
    log: list[str] = []
    ct = loaded.ct if loaded.ct is not None else old.ct
    placeholder = False
    if ct is None and loaded.doses:
        path, grid = loaded.doses[0]
        ct = grid.with_values(np.full(grid.shape, NO_CT_HU, np.float32), unit="HU", description=f"no CT: the grid of {path.name}")
        placeholder = True
        loaded.notes.append(f"{loaded.path}: no CT series; showing the doses and structures on the grid of "
                            f"{path.name} (open the CT to run a calculation)")
    if ct is None and loaded.structure_sets:
        raise BraggdeskError(f"{loaded.path}: structures are shown on a CT or a dose grid; this folder has "
                             f"neither: open the CT series first (or the folder that holds both)")
    take_over = loaded.ct is not None and old.ct_placeholder and (
        not old.ct.frame_of_reference_uid or not loaded.ct.frame_of_reference_uid
        or old.ct.frame_of_reference_uid == loaded.ct.frame_of_reference_uid)
    doses = (old.placeholder_doses if take_over else []) + list(loaded.doses)
    for path, grid in doses:  # another frame of reference, or beside the CT: refused, nothing changes
        check_dose_grid_on_ct(grid, ct, path)
    structure_sets = (old.structure_sets if take_over else []) + list(loaded.structure_sets)
    session = old
    new_ct = loaded.ct is not None or placeholder
    if new_ct:
        if take_over:
            log.append(f"the CT takes over the plans, structures and doses shown on {old.ct.description}")
        elif old.ct is not None:
            log.append("a new CT replaces the open patient")
        session = Session(ct=ct, ct_source=str(loaded.ct_folder or ""), calibration=loaded.calibration,
                          plans=list(old.plans) if take_over else [], ct_placeholder=placeholder)
    session.plans += loaded.plans
    session.structure_sets += structure_sets  # taken over only into a new session
    if session.ct_placeholder:
        session.placeholder_doses += loaded.doses
    return Merge(session, new_ct, doses, structure_sets, log)


def prepare_loaded(ct: Volume, doses: list[tuple[Path, Volume]], structure_sets: list[StructureSet]
                   ) -> tuple[list[DoseEntry], list[StructureMask]]:
    """The slow part of loading (run it off the GUI thread): imported doses onto the CT grid, their maxima
    scanned, structures rasterized on it."""
    entries = [DoseEntry(f"RTDOSE {p.name}", resample(vol, ct), per_fraction=_summation(p) == "FRACTION")
               for p, vol in doses]
    for entry in entries:
        entry.max_dose_gy  # noqa: B018 -- scanned here, not on the GUI thread
    masks = [m for ss in structure_sets for m in rasterize_structure_set(ss, ct)]
    return entries, masks


def _summation(path: Path) -> str:
    """An RT Dose's DoseSummationType ("" if it cannot be read again: it was read a moment ago)."""
    try:
        return read_rtdose_info(path).summation.upper()
    except (BraggdeskError, OSError, ValueError):  # the dose was read; its summation only refines the display
        return ""
