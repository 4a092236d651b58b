"""Clinical goals evaluated on a dose: the value of each goal's metric, met or missed, and by how much.

Built on :mod:`braggdesk.analysis.dvh`, so a goal's D95% is the same number the DVH table shows.
One DVH per structure, however many goals name it.  Structures are matched by name as
:meth:`StructureSet.by_name` does (exact first, then ignoring case); a goal naming a structure the
masks do not hold raises :class:`GoalError` naming the goal and listing the structures there are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from braggdesk.model import StructureMask
from braggdesk.model.clinical_goals import ClinicalGoal, GoalError

from .dvh import Dvh, compute_dvh, d_volume, metrics_of, v_dose


@dataclass(frozen=True)
class GoalResult:
    """One goal on one dose.  ``value`` in the goal's unit (Gy, % or cm3); ``margin`` > 0 on the good side."""

    goal: ClinicalGoal
    value: float
    met: bool
    margin: float

    @property
    def label(self) -> str:
        return self.goal.label

    def as_dict(self) -> dict:
        g = self.goal
        return {"goal": g.label, "structure": g.structure, "metric": g.metric, "comparison": g.comparison,
                "threshold": g.threshold, "unit": g.threshold_unit, "value": _json_number(self.value),
                "met": self.met, "margin": _json_number(self.margin)}


def find_mask(masks: Mapping[str, StructureMask], structure: str, goal: ClinicalGoal | None = None) -> StructureMask:
    """The mask of ``structure`` (exact name, then ignoring case); GoalError naming the goal otherwise."""
    if structure in masks:
        return masks[structure]
    for name, mask in masks.items():
        if name.lower() == structure.lower():
            return mask
    what = f"goal {goal.label!r}" if goal is not None else f"structure {structure!r}"
    raise GoalError(f"{what}: no structure named {structure!r}; there are {', '.join(sorted(masks)) or 'none'}")


def goal_value(goal: ClinicalGoal, dvh: Dvh) -> float:
    """The value of the goal's metric on ``dvh``, in the goal's unit (NaN for an empty structure)."""
    metric = goal.parsed_metric
    if metric.kind == "D":
        return d_volume(dvh, metric.amount, unit=metric.amount_unit)
    if metric.kind == "V":
        result = "cm3" if goal.threshold_unit == "cm3" else "percent"
        return v_dose(dvh, metric.amount, unit=metric.amount_unit, reference_gy=goal.prescription_gy, result=result)
    m = metrics_of(dvh)
    return {"Dmean": m.dmean_gy, "Dmax": m.dmax_gy, "Dmin": m.dmin_gy}[metric.kind]


def evaluate_goals(dose_gy: np.ndarray, masks: Mapping[str, StructureMask], goals: Sequence[ClinicalGoal],
                   voxel_volume_cm3: float | None = None) -> list[GoalResult]:
    """Every goal on ``dose_gy`` (on the masks' grid), in the order given.

    ``voxel_volume_cm3`` defaults to each mask's grid.  Every goal's structure is checked before any
    DVH is computed, so an unknown name fails at once.
    """
    dose = np.asarray(dose_gy)
    chosen = {id(g): find_mask(masks, g.structure, g) for g in goals}
    dvhs: dict[int, Dvh] = {}
    out = []
    for goal in goals:
        mask = chosen[id(goal)]
        if mask.fraction.shape != dose.shape:
            raise GoalError(f"goal {goal.label!r}: structure {mask.name!r} is on a grid of shape "
                            f"{mask.fraction.shape}, the dose {dose.shape}; put them on one grid first")
        if id(mask) not in dvhs:
            volume = voxel_volume_cm3 if voxel_volume_cm3 is not None else mask.grid.voxel_volume_cm3
            dvhs[id(mask)] = compute_dvh(dose, mask.fraction, volume, name=mask.name)
        value = goal_value(goal, dvhs[id(mask)])
        out.append(GoalResult(goal, value, goal.met_by(value), goal.margin(value)))
    return out


def _json_number(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None
