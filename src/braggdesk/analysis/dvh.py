"""Dose-volume histograms and dose metrics from a dose array and a fractional mask.

Why fractional: a structure's boundary voxel is partly inside; counting it with
its fraction keeps small structures' volumes and DVHs right on coarse dose grids.
Every voxel contributes ``fraction * voxel volume`` at its dose.

Metrics are computed from the voxels themselves, not from the binned histogram,
so they do not depend on the bin width:

* ``Dx`` (x % of the volume): the dose that at least x % of the volume receives,
  i.e. the highest dose ``d`` with V(>= d) >= x %.  Voxels are sorted by dose and
  their volumes accumulated; between two voxel doses the cumulative volume is
  interpolated linearly (a continuous DVH through the voxel doses).
* ``V(d)``: volume receiving at least ``d``.
* Dmean is the volume-weighted mean; Dmin and Dmax over voxels with a fraction > 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from braggdesk.model import StructureMask

DEFAULT_BIN_GY = 0.01
STANDARD_D_PERCENTS = (98.0, 95.0, 50.0, 2.0)


@dataclass
class Dvh:
    """A cumulative and differential DVH on dose bins, plus the sorted voxels the metrics use."""

    name: str
    bin_edges_gy: np.ndarray  # (n + 1,)
    differential_cm3: np.ndarray  # (n,): volume with dose in [edge_i, edge_i+1)
    total_volume_cm3: float
    _dose_sorted_gy: np.ndarray  # descending
    _volume_cumulative_cm3: np.ndarray  # volume of the voxels with dose >= the matching sorted dose

    @property
    def cumulative_cm3(self) -> np.ndarray:
        """Volume receiving at least ``bin_edges_gy[i]``, (n + 1,) values, first = total volume."""
        tail = np.cumsum(self.differential_cm3[::-1])[::-1]
        return np.append(tail, 0.0)

    @property
    def cumulative_percent(self) -> np.ndarray:
        return 100.0 * self.cumulative_cm3 / self.total_volume_cm3 if self.total_volume_cm3 > 0 else \
            np.zeros(self.bin_edges_gy.shape)

    @property
    def bin_centres_gy(self) -> np.ndarray:
        return 0.5 * (self.bin_edges_gy[1:] + self.bin_edges_gy[:-1])

    def volume_at_dose(self, dose_gy: float) -> float:
        """V(>= dose_gy) in cm3."""
        n = int(np.searchsorted(-self._dose_sorted_gy, -dose_gy, side="right"))  # voxels with dose >= d
        return float(self._volume_cumulative_cm3[n - 1]) if n > 0 else 0.0

    def dose_at_volume(self, volume_cm3: float) -> float:
        """The dose that at least ``volume_cm3`` of the structure receives (D at an absolute volume)."""
        if self.total_volume_cm3 <= 0 or volume_cm3 > self.total_volume_cm3 * (1 + 1e-12):
            return float("nan")
        cum, dose = self._volume_cumulative_cm3, self._dose_sorted_gy
        n = int(np.searchsorted(cum, volume_cm3 - 1e-12 * self.total_volume_cm3, side="left"))
        n = min(n, len(cum) - 1)
        if n == 0:
            return float(dose[0])
        # between sorted voxels n-1 and n the cumulative volume grows from cum[n-1] to cum[n]
        v0, v1 = cum[n - 1], cum[n]
        t = (volume_cm3 - v0) / (v1 - v0) if v1 > v0 else 1.0
        return float(dose[n - 1] + t * (dose[n] - dose[n - 1]))

    def dose_at_percent(self, percent: float) -> float:
        return self.dose_at_volume(self.total_volume_cm3 * percent / 100.0)


@dataclass
class DvhMetrics:
    """The usual numbers for one structure and one dose."""

    name: str
    volume_cm3: float
    dmean_gy: float
    dmin_gy: float
    dmax_gy: float
    d98_gy: float
    d95_gy: float
    d50_gy: float
    d2_gy: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def compute_dvh(dose_gy: np.ndarray, fraction: np.ndarray, voxel_volume_cm3: float, *, name: str = "",
                bin_gy: float = DEFAULT_BIN_GY, max_dose_gy: float | None = None) -> Dvh:
    """DVH of ``dose_gy`` inside the fractional mask ``fraction`` (same shape, values in [0, 1])."""
    dose = np.asarray(dose_gy, dtype=np.float64)
    frac = np.asarray(fraction, dtype=np.float64)
    if dose.shape != frac.shape:
        raise ValueError(f"dose has shape {dose.shape}, the mask {frac.shape}; put them on one grid first")
    if bin_gy <= 0 or voxel_volume_cm3 <= 0:
        raise ValueError("bin_gy and voxel_volume_cm3 must be positive")
    inside = frac > 0
    d = dose[inside]
    v = np.clip(frac[inside], 0.0, 1.0) * voxel_volume_cm3
    if np.isnan(d).any():
        raise ValueError(f"{name or 'structure'}: the dose is NaN in {int(np.isnan(d).sum())} voxels of the mask")
    top = max(float(d.max()) if d.size else 0.0, max_dose_gy or 0.0)
    n_bins = int(np.floor(top / bin_gy)) + 1
    edges = np.arange(n_bins + 1) * bin_gy
    hist, _ = np.histogram(d, bins=edges, weights=v)
    order = np.argsort(-d, kind="stable")
    return Dvh(name=name, bin_edges_gy=edges, differential_cm3=hist, total_volume_cm3=float(v.sum()),
               _dose_sorted_gy=d[order], _volume_cumulative_cm3=np.cumsum(v[order]))


def dvh_of_mask(dose_gy: np.ndarray, mask: StructureMask, **kwargs) -> Dvh:
    """:func:`compute_dvh` for a StructureMask (the dose must be on the mask's grid)."""
    return compute_dvh(dose_gy, mask.fraction, mask.grid.voxel_volume_cm3, name=mask.name, **kwargs)


def dvh_metrics(dose_gy: np.ndarray, fraction: np.ndarray, voxel_volume_cm3: float, *, name: str = "") -> DvhMetrics:
    """Dmean, Dmin, Dmax, D98, D95, D50, D2 and the volume."""
    dvh = compute_dvh(dose_gy, fraction, voxel_volume_cm3, name=name)
    return metrics_of(dvh)


def metrics_of(dvh: Dvh) -> DvhMetrics:
    d, cum = dvh._dose_sorted_gy, dvh._volume_cumulative_cm3
    if d.size == 0:
        nan = float("nan")
        return DvhMetrics(dvh.name, 0.0, nan, nan, nan, nan, nan, nan, nan)
    weights = np.diff(np.concatenate([[0.0], cum]))
    return DvhMetrics(
        name=dvh.name, volume_cm3=dvh.total_volume_cm3,
        dmean_gy=float(np.dot(d, weights) / dvh.total_volume_cm3),
        dmin_gy=float(d[-1]), dmax_gy=float(d[0]),
        **{f"d{int(p)}_gy": dvh.dose_at_percent(p) for p in STANDARD_D_PERCENTS})


def v_dose(dvh: Dvh, dose: float, *, unit: str = "Gy", reference_gy: float | None = None,
           result: str = "percent") -> float:
    """V at a dose given in Gy, or in % of ``reference_gy`` (unit="%"); in % of the volume or cm3."""
    if unit == "%":
        if not reference_gy:
            raise ValueError("a V-dose query in % needs reference_gy (the prescription dose)")
        dose_gy = reference_gy * dose / 100.0
    elif unit == "Gy":
        dose_gy = dose
    else:
        raise ValueError(f"unit must be 'Gy' or '%', got {unit!r}")
    volume = dvh.volume_at_dose(dose_gy)
    return _volume_in(volume, dvh, result)


def d_volume(dvh: Dvh, volume: float, *, unit: str = "%") -> float:
    """D at a volume given in % of the structure or in cm3 (unit="cm3"), in Gy."""
    if unit == "%":
        return dvh.dose_at_percent(volume)
    if unit == "cm3":
        return dvh.dose_at_volume(volume)
    raise ValueError(f"unit must be '%' or 'cm3', got {unit!r}")


def _volume_in(volume_cm3: float, dvh: Dvh, result: str) -> float:
    if result == "cm3":
        return volume_cm3
    if result == "percent":
        return 100.0 * volume_cm3 / dvh.total_volume_cm3 if dvh.total_volume_cm3 > 0 else float("nan")
    raise ValueError(f"result must be 'percent' or 'cm3', got {result!r}")
