"""Dose objectives: value and gradient with respect to the dose on a structure's voxels.

Each kind follows matRad's dose objectives (e0404/matRad, folder
``matRad/optimization/+DoseObjectives``), so a physicist who knows matRad or OpenTPS reads
the same numbers.  With ``d`` the TOTAL dose (Gy, over all fractions) on the N voxels of
the structure, ``r`` the objective's dose and ``w`` its weight:

- ``min``      w/N * sum(max(0, r - d)^2)                 (matRad_SquaredUnderdosing.m)
- ``max``      w/N * sum(max(0, d - r)^2)                 (matRad_SquaredOverdosing.m)
- ``uniform``  w/N * sum((d - r)^2)                       (matRad_SquaredDeviation.m)
- ``mean``     w * max(0, mean(d) - r)^2                  (matRad_MeanDose.m, 'Quadratic')
- ``dvh_min``  w/N * sum over D_v <= d <= r of (d - r)^2  (matRad_MinDVH.m)
- ``dvh_max``  w/N * sum over r <= d <= D_v of (d - r)^2  (matRad_MaxDVH.m)

D_v is the dose that the hottest v % of the structure receive (matRad_calcInversDVH.m: the
dose sorted in descending order, element max(1, ceil(v N))).  The DVH kinds penalise only the
voxels between D_v and r, the ones the cheapest to move across r (Wu and Mohan 2000); D_v is
held fixed in the gradient, as in matRad, which is exact wherever no two voxels tie.

``mean`` differs from matRad on purpose: matRad's 'Quadratic' mean is two-sided and would push
an organ's mean dose UP to r; here it is an upper bound (zero below r), which is what a mean
objective on an organ means.  With r = 0 ("as low as possible") both are the same.  matRad's
default 'Linear' variant |mean - r| is not offered: its gradient in matRad (sign of each voxel's
deviation) is not the gradient of its value, and a quasi-Newton solver needs one that is.

A voxel in two structures counts in the objectives of each (the gradients add), as in matRad.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..model.objectives import Objective


def dose_at_volume(dose_gy: np.ndarray, volume_fraction: float) -> float:
    """D_v: the lowest dose among the hottest ``volume_fraction`` of the voxels (matRad_calcInversDVH.m)."""
    ordered = np.sort(np.asarray(dose_gy, dtype=np.float64))[::-1]
    index = max(1, int(np.ceil(volume_fraction * ordered.size)))
    return float(ordered[index - 1])


def squared_underdose(dose_gy: np.ndarray, ref_gy: float) -> tuple[float, np.ndarray]:
    under = np.minimum(dose_gy - ref_gy, 0.0)
    return float(under @ under) / dose_gy.size, (2.0 / dose_gy.size) * under


def squared_overdose(dose_gy: np.ndarray, ref_gy: float) -> tuple[float, np.ndarray]:
    over = np.maximum(dose_gy - ref_gy, 0.0)
    return float(over @ over) / dose_gy.size, (2.0 / dose_gy.size) * over


def squared_deviation(dose_gy: np.ndarray, ref_gy: float) -> tuple[float, np.ndarray]:
    deviation = dose_gy - ref_gy
    return float(deviation @ deviation) / dose_gy.size, (2.0 / dose_gy.size) * deviation


def mean_dose_above(dose_gy: np.ndarray, ref_gy: float) -> tuple[float, np.ndarray]:
    excess = max(float(dose_gy.mean()) - ref_gy, 0.0)
    return excess * excess, np.full(dose_gy.size, 2.0 * excess / dose_gy.size)


def min_dvh(dose_gy: np.ndarray, ref_gy: float, volume_fraction: float) -> tuple[float, np.ndarray]:
    """D_v >= ref: penalise the voxels with D_v <= d <= ref (matRad_MinDVH.m)."""
    d_v = dose_at_volume(dose_gy, volume_fraction)
    deviation = dose_gy - ref_gy
    deviation[(dose_gy > ref_gy) | (dose_gy < d_v)] = 0.0
    return float(deviation @ deviation) / dose_gy.size, (2.0 / dose_gy.size) * deviation


def max_dvh(dose_gy: np.ndarray, ref_gy: float, volume_fraction: float) -> tuple[float, np.ndarray]:
    """V_ref <= v: penalise the voxels with ref <= d <= D_v (matRad_MaxDVH.m)."""
    d_v = dose_at_volume(dose_gy, volume_fraction)
    deviation = dose_gy - ref_gy
    deviation[(dose_gy < ref_gy) | (dose_gy > d_v)] = 0.0
    return float(deviation @ deviation) / dose_gy.size, (2.0 / dose_gy.size) * deviation


def objective_value_and_gradient(objective: Objective, dose_gy: np.ndarray) -> tuple[float, np.ndarray]:
    """The weighted value of ``objective`` and its gradient, for the total dose on its structure's voxels."""
    dose = np.asarray(dose_gy, dtype=np.float64)
    if dose.ndim != 1 or dose.size == 0:
        raise ValueError(f"{objective.label}: needs the dose on at least one voxel, got shape {dose.shape}")
    ref = objective.dose_gy
    if objective.kind == "min":
        value, gradient = squared_underdose(dose, ref)
    elif objective.kind == "max":
        value, gradient = squared_overdose(dose, ref)
    elif objective.kind == "uniform":
        value, gradient = squared_deviation(dose, ref)
    elif objective.kind == "mean":
        value, gradient = mean_dose_above(dose, ref)
    elif objective.kind == "dvh_min":
        value, gradient = min_dvh(dose, ref, objective.volume_percent / 100.0)
    elif objective.kind == "dvh_max":
        value, gradient = max_dvh(dose, ref, objective.volume_percent / 100.0)
    else:  # the dataclass refuses other kinds; this guards a kind added there but not here
        raise ValueError(f"no formula for objective kind {objective.kind!r}")
    return objective.weight * value, objective.weight * gradient


@dataclass(frozen=True)
class ObjectiveTerm:
    """An objective bound to the rows of the Dij (voxels of interest) that its structure covers."""

    objective: Objective
    rows: np.ndarray  # int64 indices into the Dij's rows, sorted and unique


@dataclass
class Evaluation:
    """The objective function at one dose: total, one value per term, gradient over all Dij rows."""

    value: float
    values: list[float]
    gradient: np.ndarray | None  # d value / d dose_gy, float64, one entry per Dij row


def bind_objectives(objectives: Sequence[Objective], structure_rows: Mapping[str, np.ndarray],
                    n_rows: int) -> list[ObjectiveTerm]:
    """Each objective with its structure's rows; a structure given as a boolean mask or as row indices.

    Raises ValueError naming the objective when its structure is missing, empty or out of range.
    """
    rows_by_name = {name: as_rows(name, rows, n_rows) for name, rows in structure_rows.items()}
    terms = []
    for number, objective in enumerate(objectives, start=1):
        rows = rows_by_name.get(objective.structure)
        if rows is None:
            known = ", ".join(sorted(rows_by_name)) or "none"
            raise ValueError(f"objective {number} ({objective.structure}): no structure of that name among "
                             f"the Dij's structures ({known})")
        if rows.size == 0:
            raise ValueError(f"objective {number} ({objective.structure}): the structure has no voxel in the Dij")
        terms.append(ObjectiveTerm(objective, rows))
    return terms


def evaluate(terms: Sequence[ObjectiveTerm], dose_gy: np.ndarray, *, gradient: bool = True) -> Evaluation:
    """Sum the terms at the total dose ``dose_gy`` (one value per Dij row); overlapping rows add gradients."""
    dose = np.asarray(dose_gy, dtype=np.float64)
    total_gradient = np.zeros(dose.size) if gradient else None
    values = []
    for term in terms:
        value, term_gradient = objective_value_and_gradient(term.objective, dose[term.rows])
        values.append(value)
        if total_gradient is not None:
            total_gradient[term.rows] += term_gradient  # rows are unique within a term
    return Evaluation(float(sum(values)), values, total_gradient)


def as_rows(name: str, rows: np.ndarray, n_rows: int) -> np.ndarray:
    """Sorted unique int64 row indices from a boolean mask over the Dij's rows or from row indices."""
    array = np.asarray(rows)
    if array.dtype == bool:
        if array.shape != (n_rows,):
            raise ValueError(f"structure {name}: a mask must have one entry per Dij row ({n_rows}), "
                             f"got shape {array.shape}")
        return np.flatnonzero(array).astype(np.int64)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"structure {name}: rows must be a boolean mask or integer row indices, got {array.dtype}")
    indices = np.unique(array.astype(np.int64).ravel())
    if indices.size and (indices[0] < 0 or indices[-1] >= n_rows):
        raise ValueError(f"structure {name}: row indices must be in [0, {n_rows}), "
                         f"got {indices[0]}..{indices[-1]}")
    return indices
