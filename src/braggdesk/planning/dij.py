"""The dose-influence matrix in Gy per MU, made from the Monte Carlo sums of every spot.

``matrix[r, j]`` is the dose in voxel of interest ``r`` (flat CT voxel ``voxel_index[r]``) that one
MU of spot ``j`` gives: the spot's mean energy deposit per primary, times its protons per MU (from
the beam model at its energy), times the voxel's Gy per MeV (dose to water or to medium, as for a
dose).  Spots are numbered in plan order (beam, layer, spot).  float32 and sparse (CSC: one column
per spot, as the optimiser multiplies by it and its transpose).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..model.dij import DijBatch
from ..model.snapshot import ENERGY_QUANTUM_MEV, ENERGY_SQ_QUANTUM_MEV2


@dataclass
class DoseInfluence:
    """A dose-influence matrix on the voxels of interest of a CT grid."""

    matrix: sp.csc_matrix  # float32 (n_rows, n_spots): Gy per MU
    voxel_index: np.ndarray  # int64 flat CT voxels of the rows
    grid_shape: tuple[int, int, int]  # (k, j, i) of the CT
    histories_per_spot: np.ndarray  # int64
    spot_uncertainty: np.ndarray  # float64 per spot: relative uncertainty of its dose above 50 % of its maximum
    dose_to: str = "water"

    @property
    def n_spots(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def n_rows(self) -> int:
        return int(self.matrix.shape[0])

    def dose(self, spot_mu: np.ndarray) -> np.ndarray:
        """Dose [Gy] on the voxels of interest for these MU per spot."""
        return np.asarray(self.matrix @ np.asarray(spot_mu, dtype=np.float32), dtype=np.float64)

    def dose_on_grid(self, spot_mu: np.ndarray) -> np.ndarray:
        """The same dose on the whole CT grid (zero outside the voxels of interest)."""
        out = np.zeros(int(np.prod(self.grid_shape)), dtype=np.float64)
        out[self.voxel_index] = self.dose(spot_mu)
        return out.reshape(self.grid_shape)


def dose_influence(sums: DijBatch, voxel_index: np.ndarray, gy_per_mev: np.ndarray, protons_per_mu: np.ndarray,
                   grid_shape: tuple[int, int, int], dose_to: str = "water") -> DoseInfluence:
    """The matrix from the merged sums of every block (``gy_per_mev`` per CT voxel)."""
    missing = np.flatnonzero(sums.histories == 0)
    if missing.size:
        raise ValueError(f"{missing.size} spot(s) have no histories yet (first: spot {int(missing[0])}); "
                         "the matrix needs every spot")
    spot = sums.spot.astype(np.int64)
    row = sums.row.astype(np.int64)
    n = sums.histories[spot].astype(np.float64)
    mean_mev = sums.energy * ENERGY_QUANTUM_MEV / n
    values = mean_mev * np.asarray(gy_per_mev, np.float64)[voxel_index[row]] * np.asarray(protons_per_mu)[spot]
    matrix = sp.csc_matrix((values.astype(np.float32), (row, spot)), shape=(sums.n_rows, sums.n_spots))
    return DoseInfluence(matrix, np.asarray(voxel_index, np.int64), tuple(grid_shape), sums.histories.copy(),
                         _spot_uncertainty(sums, spot, n, mean_mev), dose_to)


def mean_spot_uncertainty(sums: DijBatch) -> float:
    """The mean over spots of each spot's relative uncertainty (over its entries above half its maximum):
    what a target uncertainty of a matrix is measured by.  Spots without histories yet count as unknown (1);
    spots with no dose on the voxels of interest do not count (the optimiser cannot use them)."""
    if sums.histories.min() <= 0:
        return 1.0
    spot = sums.spot.astype(np.int64)
    n = sums.histories[spot].astype(np.float64)
    per_spot = _spot_uncertainty(sums, spot, n, sums.energy * ENERGY_QUANTUM_MEV / n)
    finite = per_spot[np.isfinite(per_spot)]
    return float(finite.mean()) if finite.size else 0.0


def _spot_uncertainty(sums: DijBatch, spot: np.ndarray, n: np.ndarray, mean_mev: np.ndarray) -> np.ndarray:
    """Per spot: the mean relative uncertainty (history by history) over its entries above half its
    maximum deposit, the same rule as a dose's."""
    mean_sq = sums.energy_sq * ENERGY_SQ_QUANTUM_MEV2 / n
    variance = np.maximum(mean_sq - mean_mev**2, 0.0) / np.maximum(n - 1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(mean_mev > 0, np.sqrt(variance) / mean_mev, 0.0)
    peak = np.zeros(sums.n_spots)
    np.maximum.at(peak, spot, mean_mev)
    high = mean_mev >= 0.5 * peak[spot]
    total = np.bincount(spot[high], weights=relative[high], minlength=sums.n_spots)
    count = np.bincount(spot[high], minlength=sums.n_spots)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)
