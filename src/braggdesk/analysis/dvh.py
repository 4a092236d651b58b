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

Cost: the GUI recomputes DVHs of whole-body masks (millions of voxels) after every
batch of a live run, so the histogram is one ``bincount`` and only voxels with a
dose above zero are sorted (the zero-dose voxels of a body outline, often most of
it, join the end of the sorted list as two entries that give the same answers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from braggdesk.model import StructureMask

DEFAULT_BIN_GY = 0.01  # the width of old; kept for callers that name it
MIN_BINS = 1000  # an automatic bin width gives at least this many bins up to the maximum dose
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

    def volume_fraction_at_dose(self, dose_gy: float) -> float:
        """V(>= dose_gy) as a fraction of the structure, exact from the voxels (not read off the binned curve)."""
        return self.volume_at_dose(dose_gy) / self.total_volume_cm3 if self.total_volume_cm3 > 0 else float("nan")

    @property
    def cumulative_fraction(self) -> np.ndarray:
        """The cumulative curve at ``bin_edges_gy`` as fractions of the structure (1 at 0 Gy)."""
        return self.cumulative_percent / 100.0


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
                bin_gy: float | None = None, max_dose_gy: float | None = None) -> Dvh:
    """DVH of ``dose_gy`` inside the fractional mask ``fraction`` (same shape, values in [0, 1]).

    ``bin_gy`` None (the default) follows the dose: :func:`bin_width_for` the
    larger of the maximum dose in the mask and ``max_dose_gy``, so a 0.08 Gy
    field gets as smooth a curve as a 70 Gy plan (a fixed 0.01 Gy gave it 8 steps).
    """
    dose = np.asarray(dose_gy)
    frac = np.asarray(fraction)
    if dose.shape != frac.shape:
        raise ValueError(f"dose has shape {dose.shape}, the mask {frac.shape}; put them on one grid first")
    if (bin_gy is not None and not bin_gy > 0) or not voxel_volume_cm3 > 0:
        raise ValueError("bin_gy and voxel_volume_cm3 must be positive")
    inside = np.flatnonzero(frac.ravel() > 0)
    d = dose.ravel()[inside].astype(np.float64)
    v = np.clip(frac.ravel()[inside].astype(np.float64), 0.0, 1.0) * voxel_volume_cm3
    if np.isnan(d).any():
        raise ValueError(f"{name or 'structure'}: the dose is NaN in {int(np.isnan(d).sum())} voxels of the mask")
    top = max(float(d.max()) if d.size else 0.0, max_dose_gy or 0.0)
    if bin_gy is None:
        bin_gy = bin_width_for(top)
    n_bins = int(np.floor(top / bin_gy)) + 1
    edges = np.arange(n_bins + 1) * bin_gy
    hist = _uniform_histogram(d, v, edges)
    dose_sorted, cum = _sorted_cumulative(d, v)
    return Dvh(name=name, bin_edges_gy=edges, differential_cm3=hist, total_volume_cm3=float(v.sum()),
               _dose_sorted_gy=dose_sorted, _volume_cumulative_cm3=cum)


def bin_width_for(max_dose_gy: float, min_bins: int = MIN_BINS) -> float:
    """A round bin width (1, 2 or 5 x 10^k Gy) giving at least ``min_bins`` bins up to ``max_dose_gy``.

    70 Gy gets 0.05 Gy bins, 2 Gy 0.002 Gy, 0.08 Gy 5e-5 Gy; a zero or non-finite
    maximum the old fixed width, so an empty dose still has a (flat) curve.
    """
    if not (max_dose_gy > 0 and np.isfinite(max_dose_gy)):
        return DEFAULT_BIN_GY
    target = max_dose_gy / min_bins
    exponent = np.floor(np.log10(target))
    for mantissa in (5.0, 2.0, 1.0):
        width = mantissa * 10.0 ** exponent
        if width <= target * (1 + 1e-12):
            return float(width)
    return float(10.0 ** exponent)


def _uniform_histogram(d: np.ndarray, v: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(d, edges, weights=v)[0]`` for uniform edges from 0, by one bincount (several times faster).

    The bin of each value is corrected against the edges themselves, as numpy does,
    so values on an edge land in the same bin as with np.histogram.
    """
    n = len(edges) - 1
    if d.size == 0:
        return np.zeros(n)
    inside = (d >= edges[0]) & (d <= edges[-1])
    if not inside.all():
        d, v = d[inside], v[inside]
    idx = np.minimum((d * (n / (edges[-1] - edges[0]))).astype(np.intp), n - 1)
    idx -= d < edges[idx]
    idx += (d >= edges[idx + 1]) & (idx != n - 1)
    return np.bincount(idx, weights=v, minlength=n)


def _sorted_cumulative(d: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Doses sorted from the highest down and the volume at or above each: what every metric reads.

    Only voxels with a dose above zero are sorted.  The zero-dose ones follow as the
    first of them and then all the rest in one entry: between two equal doses the
    interpolation of :meth:`Dvh.dose_at_volume` gives that dose whatever the volumes,
    so the answers are those of a full sort.
    """
    positive = d > 0
    if d.size - int(positive.sum()) < 2 or (d < 0).any():  # nothing to gain, or doses below zero: sort all
        positive = np.ones(d.shape, bool)
    dp, vp = d[positive], v[positive]
    order = np.argsort(-dp)  # ties in any order: no metric depends on their order
    dose, vol = dp[order], vp[order]
    if dp.size < d.size:
        v0 = v[~positive]
        dose = np.concatenate([dose, [0.0, 0.0]])
        vol = np.concatenate([vol, [v0[0], v0[1:].sum()]])
    return dose, np.cumsum(vol)


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
