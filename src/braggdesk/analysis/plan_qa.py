"""Plan QA: a recalculated (Monte Carlo) dose against the planning system's dose.

Why one module: the comparison a physicist files is a fixed recipe, and the CLI,
the GUI and the tests must all get the same numbers from it:

* both doses on one grid, the reference's (the planning system's grid is what
  its DVHs and gamma are usually judged on); the evaluated dose is interpolated
  trilinearly onto it;
* the absolute-dose check first: the median evaluated / reference ratio over the
  high-dose region (reference >= 50 % of its maximum, inside the target when one
  is named).  A ratio far from 1 (outside ``GROSS_RATIO_LIMITS``) is a gross
  absolute-dose mismatch (monitor units on another scale, wrong beam model, RBE
  weighting) that gamma and DVH differences would only report as "everything
  fails"; it is flagged, never corrected silently;
* optional explicit scalings of the evaluated dose, each recorded: an RBE factor
  for an RBE-weighted (EFFECTIVE) reference, and normalisation to the reference
  (the evaluated dose scaled so the ratio above becomes 1), for when the shape is
  what is being checked;
* gamma at the usual criteria (3 %/3 mm, 2 %/2 mm, 1 %/1 mm, global, 10 % cut-off),
  per-structure DVH metrics of both doses and their differences, the difference
  map and profiles through the isocentre.

Everything here is pure: Volumes and masks in, numbers and arrays out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from braggdesk.model import StructureMask, Volume

from .dvh import Dvh, DvhMetrics, dvh_of_mask, metrics_of
from .gamma import GammaCriteria, GammaResult, gamma_index
from .profiles import Profile, sample_points
from .resample import resample, same_geometry

STANDARD_CRITERIA = (
    GammaCriteria(dose_percent=3.0, dta_mm=3.0, cutoff_percent=10.0),
    GammaCriteria(dose_percent=2.0, dta_mm=2.0, cutoff_percent=10.0),
    GammaCriteria(dose_percent=1.0, dta_mm=1.0, cutoff_percent=10.0),
)
HIGH_DOSE_PERCENT = 50.0  # the ratio region: reference at or above this % of its maximum
GROSS_RATIO_LIMITS = (0.8, 1.25)  # a median ratio outside these is an absolute-dose mismatch, not a QA result
PERCENT_FLOOR = 0.05  # metric differences in % only where the reference metric is >= 5 % of the reference maximum
TARGET_TYPES = ("PTV", "CTV", "GTV", "ITV")
METRIC_NAMES = ("dmean_gy", "dmin_gy", "dmax_gy", "d98_gy", "d95_gy", "d50_gy", "d2_gy")


@dataclass(frozen=True)
class DoseRatio:
    """Evaluated / reference dose over the high-dose region, before any normalisation."""

    median: float
    p05: float
    p95: float
    voxels: int
    region: str  # in words, for the report

    @property
    def gross_mismatch(self) -> bool:
        low, high = GROSS_RATIO_LIMITS
        return not (np.isfinite(self.median) and low <= self.median <= high)


@dataclass(frozen=True)
class Scaling:
    """One explicit factor applied to the evaluated dose before the comparison, and why."""

    name: str  # "rbe" or "normalise_to_reference"
    factor: float
    reason: str


@dataclass
class StructureComparison:
    name: str
    reference: DvhMetrics
    evaluated: DvhMetrics
    percent_floor_gy: float = 0.0  # no percentage of a reference metric below this (D98 of an outline is ~0 Gy)

    def difference_gy(self) -> dict[str, float]:
        return {k: getattr(self.evaluated, k) - getattr(self.reference, k) for k in METRIC_NAMES}

    def difference_percent(self) -> dict[str, float]:
        """Differences in % of the reference metric (NaN where that is below ``percent_floor_gy`` or 0)."""
        out = {}
        for k in METRIC_NAMES:
            ref = getattr(self.reference, k)
            meaningful = ref and abs(ref) >= self.percent_floor_gy
            out[k] = 100.0 * (getattr(self.evaluated, k) - ref) / ref if meaningful else float("nan")
        return out


@dataclass
class ProfilePair:
    """One line through the isocentre sampled in both doses; ``position_mm`` is signed, 0 at the isocentre."""

    name: str  # "depth dose", "lateral X", ...
    position_mm: np.ndarray
    reference_gy: np.ndarray
    evaluated_gy: np.ndarray
    axis_label: str

    def distal_position_mm(self, percent: float, which: str = "reference") -> float:
        """Where the dose falls to ``percent`` % of its maximum beyond it (R80: 80); mm from the isocentre."""
        values = self.reference_gy if which == "reference" else self.evaluated_gy
        d = self.position_mm - self.position_mm[0]
        depth = Profile(distance_mm=d, positions_mm=np.zeros((len(d), 3)), values=values).distal_depth_mm(percent)
        return float(self.position_mm[0] + depth)


@dataclass
class PlanQaResult:
    """Everything the QA report and summary show; doses are on the reference grid, in Gy."""

    reference: Volume
    evaluated: Volume  # on the reference grid, with the scalings applied (0 outside the evaluated grid)
    ratio: DoseRatio  # measured before any scaling but the RBE factor
    scalings: list[Scaling]
    gamma: list[GammaResult]
    structures: list[StructureComparison]
    reference_dvhs: list[Dvh]
    evaluated_dvhs: list[Dvh]
    masks: list[StructureMask]
    target: str | None
    difference_percent: np.ndarray  # (evaluated - reference) in % of the reference maximum, NaN below the cut-off
    notes: list[str] = field(default_factory=list)

    @property
    def total_scale(self) -> float:
        return float(np.prod([s.factor for s in self.scalings])) if self.scalings else 1.0

    def scaling(self, name: str) -> float:
        return float(np.prod([s.factor for s in self.scalings if s.name == name])) if self.scalings else 1.0

    def summary(self) -> dict[str, Any]:
        """Plain keys for JSON: pass rates in percent, doses in Gy, ratios as numbers."""
        gamma = []
        out: dict[str, Any] = {}
        for g in self.gamma:
            c = g.criteria
            key = f"gamma_{c.dose_percent:g}pct_{c.dta_mm:g}mm_pass_rate_percent".replace(".", "p")
            out[key] = g.pass_rate_percent
            s = g.summary()
            gamma.append({"criteria": c.label, "dose_percent": c.dose_percent, "dta_mm": c.dta_mm,
                          "cutoff_percent": c.cutoff_percent, "local": c.local,
                          "pass_rate_percent": g.pass_rate_percent, "evaluated_voxels": g.evaluated_voxels,
                          "mean_gamma": s["mean_gamma"], "gamma_p95": s["gamma_p95"],
                          "normalisation_gy": g.normalisation_gy})
        out.update({
            "dose_ratio_median": self.ratio.median,
            "dose_ratio_p05": self.ratio.p05,
            "dose_ratio_p95": self.ratio.p95,
            "dose_ratio_region": self.ratio.region,
            "dose_ratio_limits": list(GROSS_RATIO_LIMITS),
            "absolute_dose_mismatch": self.ratio.gross_mismatch,
            "normalised_to_reference": any(s.name == "normalise_to_reference" for s in self.scalings),
            "normalisation_factor": self.scaling("normalise_to_reference"),
            "rbe_factor": self.scaling("rbe"),
            "scalings": [{"name": s.name, "factor": s.factor, "reason": s.reason} for s in self.scalings],
            "target": self.target,
            "reference_max_gy": float(np.max(self.reference.values)),
            "evaluated_max_gy": float(np.max(self.evaluated.values)),
            "gamma": gamma,
            "structures": [{
                "name": c.name, "volume_cm3": c.reference.volume_cm3,
                "reference": _metric_dict(c.reference), "evaluated": _metric_dict(c.evaluated),
                "difference_gy": c.difference_gy(), "difference_percent": c.difference_percent(),
            } for c in self.structures],
            "notes": list(self.notes),
        })
        return out


def _metric_dict(m: DvhMetrics) -> dict[str, float]:
    return {k: getattr(m, k) for k in METRIC_NAMES}


def choose_target(masks: Sequence[StructureMask], name: str | None = None) -> StructureMask | None:
    """The named ROI, else the first PTV/CTV/GTV/ITV, else None. KeyError for an unknown name."""
    if name:
        for m in masks:
            if m.name.lower() == name.lower():
                return m
        raise KeyError(f"no structure named {name!r}; there are {', '.join(m.name for m in masks) or 'none'}")
    for m in masks:
        if m.roi.roi_type.upper() in TARGET_TYPES and m.volume_cm3 > 0:
            return m
    return None


def high_dose_region(reference: np.ndarray, target: StructureMask | None = None,
                     valid: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """The voxels the QA judges absolute dose on, and the region in words.

    Reference >= 50 % of its maximum (and ``valid``, where given), inside ``target``
    (fraction >= 0.5) when the target holds any of it, else the whole high-dose region.
    """
    ref = np.asarray(reference, dtype=np.float64)
    top = float(np.nanmax(ref)) if ref.size else 0.0
    high = ref >= HIGH_DOSE_PERCENT / 100.0 * top if top > 0 else np.zeros(ref.shape, bool)
    if valid is not None:
        high &= valid
    region = f"reference dose >= {HIGH_DOSE_PERCENT:g} % of its maximum"
    if target is not None:
        inside = high & (target.fraction >= 0.5)
        if inside.any():
            high, region = inside, f"{region}, inside {target.name}"
    return high, region


def dose_ratio(reference: np.ndarray, evaluated: np.ndarray, target: StructureMask | None = None) -> DoseRatio:
    """Median evaluated / reference over :func:`high_dose_region` (where the evaluated dose is finite).

    Both arrays on the same grid (the target's too).
    """
    ref = np.asarray(reference, dtype=np.float64)
    ev = np.asarray(evaluated, dtype=np.float64)
    high, region = high_dose_region(ref, target, np.isfinite(ev))
    if not high.any():
        nan = float("nan")
        return DoseRatio(nan, nan, nan, 0, region)
    r = ev[high] / ref[high]
    return DoseRatio(float(np.median(r)), float(np.percentile(r, 5)), float(np.percentile(r, 95)), int(high.sum()),
                     region)


def compare_plan_doses(reference: Volume, evaluated: Volume, masks: Sequence[StructureMask] = (), *,
                       target: str | None = None, criteria: Sequence[GammaCriteria] = STANDARD_CRITERIA,
                       rbe_factor: float = 1.0, normalise_to_reference: bool = False,
                       xp: Any = np) -> PlanQaResult:
    """Compare ``evaluated`` with ``reference`` (dose Volumes in Gy, any grids; masks on the reference grid).

    ``rbe_factor`` multiplies the evaluated (physical) dose for an RBE-weighted reference.
    ``normalise_to_reference`` scales the evaluated dose by 1 / median ratio (see
    :func:`dose_ratio`); it is recorded in ``scalings`` and the summary.
    ``xp`` is numpy or cupy, for the gamma search.
    """
    for m in masks:
        if m.fraction.shape != reference.shape:
            raise ValueError(f"structure {m.name!r} is on a grid of shape {m.fraction.shape}, the reference dose "
                             f"{reference.shape}; rasterize the structures on the reference grid")
    if not rbe_factor > 0:
        raise ValueError(f"rbe_factor must be positive, got {rbe_factor}")
    target_mask = choose_target(masks, target)
    ref = np.asarray(reference.values, dtype=np.float32)
    ref_max = float(ref.max())
    on_ref = resample(evaluated, reference, outside="nan")
    notes = []
    outside = ~np.isfinite(on_ref)
    if outside.any() and (ref[outside] > 0.01 * ref_max).any():
        notes.append(f"the evaluated dose grid does not cover {int(outside.sum()):,} reference voxels that hold "
                     f"dose; they count as 0 Gy in DVHs and are not evaluated by gamma")
    scalings = []
    if rbe_factor != 1.0:
        scalings.append(Scaling("rbe", float(rbe_factor), "the reference is RBE-weighted (EFFECTIVE); the evaluated "
                                                          "physical dose is multiplied by this RBE"))
    ratio = dose_ratio(ref, on_ref * rbe_factor, target_mask)
    if normalise_to_reference:
        if not (np.isfinite(ratio.median) and ratio.median > 0):
            raise ValueError("cannot normalise to the reference: no evaluated dose in the high-dose region")
        scalings.append(Scaling("normalise_to_reference", 1.0 / ratio.median,
                                f"evaluated dose scaled so that its median over the {ratio.region} equals the "
                                f"reference's (measured ratio {ratio.median:.4g})"))
    scale = float(np.prod([s.factor for s in scalings])) if scalings else 1.0
    scaled = np.where(outside, 0.0, on_ref * scale).astype(np.float32)
    evaluated_on_ref = reference.with_values(scaled, description="evaluated dose on the reference grid")
    gamma_input = reference.with_values(np.where(outside, np.nan, scaled).astype(np.float32))

    gamma = [gamma_index(reference, gamma_input, c, xp=xp) for c in criteria]
    resampled = not same_geometry(evaluated, reference)  # gamma_index saw the dose already on the reference grid
    for g in gamma:
        g.resampled = resampled

    comparisons, ref_dvhs, ev_dvhs = [], [], []
    top = max(ref_max, float(scaled.max()))
    for m in masks:
        if m.volume_cm3 <= 0:
            continue
        dr = dvh_of_mask(ref, m, max_dose_gy=top)
        de = dvh_of_mask(scaled, m, max_dose_gy=top)
        ref_dvhs.append(dr)
        ev_dvhs.append(de)
        comparisons.append(StructureComparison(m.name, metrics_of(dr), metrics_of(de),
                                               percent_floor_gy=PERCENT_FLOOR * ref_max))

    with np.errstate(invalid="ignore"):
        shown = (ref >= 0.1 * ref_max) | (scaled >= 0.1 * ref_max)
        diff = np.where(shown, 100.0 * (scaled - ref) / ref_max, np.nan).astype(np.float32)
    return PlanQaResult(reference=reference, evaluated=evaluated_on_ref, ratio=ratio, scalings=scalings, gamma=gamma,
                        structures=comparisons, reference_dvhs=ref_dvhs, evaluated_dvhs=ev_dvhs, masks=list(masks),
                        target=target_mask.name if target_mask is not None else None, difference_percent=diff,
                        notes=notes)


def profiles_through(result: PlanQaResult, isocenter_mm: Sequence[float], direction: Sequence[float],
                     lateral_axes: Sequence[tuple[str, Sequence[float]]], *, step_mm: float | None = None
                     ) -> list[ProfilePair]:
    """Depth dose along ``direction`` and lateral profiles along each named axis, all through the isocentre.

    Positions are signed distances from the isocentre along the line, so the
    depth axis is the "depth" scalar of the beam (increasing along the beam);
    each line spans the reference grid.
    """
    iso = np.asarray(isocenter_mm, dtype=float).reshape(3)
    step = step_mm or min(abs(s) for s in result.reference.spacing_mm) / 2.0
    lines = [("depth dose", direction, "depth from the isocentre along the beam (mm)")]
    lines += [(f"lateral {name}", axis, f"position along {name} from the isocentre (mm)")
              for name, axis in lateral_axes]
    reach = float(np.linalg.norm(np.asarray(result.reference.shape) * np.abs(result.reference.spacing_mm)))
    t = np.arange(-reach, reach + step / 2, step)
    out = []
    for name, axis, label in lines:
        u = np.asarray(axis, dtype=float).reshape(3)
        u = u / np.linalg.norm(u)
        points = iso[None, :] + t[:, None] * u[None, :]
        ref = sample_points(result.reference, points)
        inside = np.isfinite(ref)
        if not inside.any():
            continue
        ev = sample_points(result.evaluated, points[inside])
        out.append(ProfilePair(name, t[inside], ref[inside], ev, label))
    return out
