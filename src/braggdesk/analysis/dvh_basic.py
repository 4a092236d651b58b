"""Cumulative dose-volume histograms and the usual dose metrics of one structure.

Pure functions (arrays in, arrays and numbers out) so the GUI, the report and
batch QA compute DVHs the same way; the GUI calls :func:`structure_dvh` from its
worker thread.  Masks are fractional: a voxel half inside a structure counts
for half its volume.  When ``analysis/dvh.py`` lands, the GUI needs only
``structure_dvh`` and ``dvh_metrics`` with these signatures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model import StructureMask

DEFAULT_BIN_GY = 0.01
MAX_BINS = 2000


@dataclass
class Dvh:
    """Cumulative DVH: ``volume_fraction[n]`` of the structure receives at least ``dose_gy[n]``."""

    name: str
    color_rgb: tuple[int, int, int]
    dose_gy: np.ndarray  # bin edges, starting at 0
    volume_fraction: np.ndarray  # same length, 1 at 0 Gy, falling
    volume_cm3: float
    # the structure's voxel doses and weights, sorted by dose: exact metrics without binning
    sorted_dose_gy: np.ndarray
    sorted_weight: np.ndarray  # mask fraction of each of those voxels
    cumulative_weight: np.ndarray  # running sum of weights from the highest dose down, normalised to 1


def structure_dvh(dose_gy: np.ndarray, mask: StructureMask, bin_gy: float | None = None) -> Dvh:
    """DVH of ``mask`` in ``dose_gy`` (same shape as the mask's grid)."""
    if dose_gy.shape != mask.fraction.shape:
        raise ValueError(f"dose grid {dose_gy.shape} and mask of {mask.name!r} {mask.fraction.shape} differ")
    frac = mask.fraction.ravel()
    inside = np.flatnonzero(frac > 0)
    doses = dose_gy.ravel()[inside].astype(np.float64)
    weights = frac[inside].astype(np.float64)
    order = np.argsort(doses)
    doses, weights = doses[order], weights[order]
    total = weights.sum()
    if total <= 0:
        empty = np.zeros(1)
        return Dvh(mask.name, mask.roi.color_rgb, empty, np.ones(1), 0.0, empty, empty, np.ones(1))
    # fraction of volume at or above each sorted dose
    at_or_above = np.cumsum(weights[::-1])[::-1] / total
    d_max = float(doses[-1])
    step = bin_gy or max(DEFAULT_BIN_GY, d_max / MAX_BINS)
    edges = np.arange(0.0, d_max + 2 * step, step)
    idx = np.searchsorted(doses, edges, side="left")
    vol = np.append(at_or_above, 0.0)[idx]
    return Dvh(mask.name, mask.roi.color_rgb, edges, vol, float(total * mask.grid.voxel_volume_cm3),
               doses, weights, at_or_above)


def dose_at_volume(dvh: Dvh, volume_fraction: float) -> float:
    """D_v: the highest dose that at least ``volume_fraction`` of the structure receives (D95 -> 0.95)."""
    if not len(dvh.sorted_dose_gy) or dvh.volume_cm3 <= 0:
        return float("nan")
    ok = np.flatnonzero(dvh.cumulative_weight >= volume_fraction - 1e-12)
    return float(dvh.sorted_dose_gy[ok[-1]]) if len(ok) else float(dvh.sorted_dose_gy[0])


def volume_at_dose(dvh: Dvh, dose_gy: float) -> float:
    """V_d: fraction of the structure receiving at least ``dose_gy``."""
    if not len(dvh.sorted_dose_gy) or dvh.volume_cm3 <= 0:
        return float("nan")
    i = np.searchsorted(dvh.sorted_dose_gy, dose_gy, side="left")
    return float(dvh.cumulative_weight[i]) if i < len(dvh.cumulative_weight) else 0.0


def dvh_metrics(dvh: Dvh, reference_gy: float | None) -> dict[str, float]:
    """Dmean, Dmax, Dmin, D98, D95, D50, D2 (Gy) and V95 (percent of volume at 95 % of ``reference_gy``)."""
    d, w = dvh.sorted_dose_gy, dvh.sorted_weight
    out = {
        "Volume [cm3]": dvh.volume_cm3,
        "Dmean [Gy]": float(np.sum(d * w) / np.sum(w)) if len(d) and np.sum(w) > 0 else float("nan"),
        "Dmax [Gy]": float(d[-1]) if len(d) else float("nan"),
        "Dmin [Gy]": float(d[0]) if len(d) else float("nan"),
    }
    for pct in (98, 95, 50, 2):
        out[f"D{pct} [Gy]"] = dose_at_volume(dvh, pct / 100)
    out["V95 [%]"] = (100 * volume_at_dose(dvh, 0.95 * reference_gy)
                      if reference_gy and reference_gy > 0 else float("nan"))
    return out
