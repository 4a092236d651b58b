"""What the window has loaded: one patient's CT, structures, plans and doses (no Qt).

Loading something new adds to the session; a failed load leaves it as it was,
so nothing loaded or computed is lost.  Doses are kept on the CT grid (imported
RTDOSEs are resampled once, when they are added) so views, DVHs and the cursor
readout index every array the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..model import BeamModel, CtCalibration, DoseResult, Plan, StructureMask, StructureSet, Volume


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
        return cls(label, result.dose_gy, result.uncertainty, result.let_kev_um, result.partial, running, result,
                   max_gy)


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
