"""Dose on a grid, derived from summed energies: what viewers, analysis and export use."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .snapshot import Snapshot
from .volume import Volume


@dataclass
class DoseScale:
    """Turns summed energy per simulated primary into absolute dose, per voxel.

    ``gy_per_mev_medium`` = 1 / voxel mass; ``gy_per_mev_water`` scales by the
    water-to-medium mass stopping power ratio (dose to water as planning systems
    report it).  ``plan_protons`` is how many protons the plan delivers.
    """

    plan_protons: float
    gy_per_mev_medium: np.ndarray
    gy_per_mev_water: np.ndarray

    def per_voxel(self, dose_to: str) -> np.ndarray:
        return self.gy_per_mev_water if dose_to == "water" else self.gy_per_mev_medium


@dataclass
class DoseResult:
    """Dose, statistical uncertainty and LETd on the CT grid."""

    grid: Volume  # geometry; ``hu`` holds the dose in Gy
    uncertainty: np.ndarray  # relative, history by history
    batch_uncertainty: np.ndarray  # relative, batch method
    let_kev_um: np.ndarray
    primaries: int
    batches: int
    compute_seconds: float
    device: str
    dose_to: str
    mean_relative_uncertainty: float
    partial: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def dose_gy(self) -> np.ndarray:
        return self.grid.values

    @property
    def max_dose_gy(self) -> float:
        return float(self.dose_gy.max()) if self.dose_gy.size else 0.0

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot, scale: DoseScale, ct: Volume, dose_to: str = "water",
                      partial: bool = False) -> "DoseResult":
        shape = ct.shape
        n = max(snapshot.primaries, 1)
        weight = scale.per_voxel(dose_to) * (scale.plan_protons / n)
        dose = (snapshot.energy_mev() * weight).reshape(shape).astype(np.float32)
        return cls(
            grid=ct.with_values(dose, description=f"MC dose to {dose_to}"),
            uncertainty=snapshot.relative_uncertainty().reshape(shape).astype(np.float32),
            batch_uncertainty=snapshot.batch_relative_uncertainty().reshape(shape).astype(np.float32),
            let_kev_um=snapshot.let_kev_um().reshape(shape).astype(np.float32),
            primaries=snapshot.primaries,
            batches=snapshot.n_batches,
            compute_seconds=snapshot.compute_seconds,
            device=snapshot.device,
            dose_to=dose_to,
            mean_relative_uncertainty=snapshot.mean_relative_uncertainty(scale.per_voxel(dose_to)),
            partial=partial,
            notes=list(snapshot.notes),
        )
