"""The demo SOBP's depth dose, physical and RBE-weighted: how far the biological range reaches beyond the physical.

Why: LET-based RBE models put more effect where LETd is high, at the distal edge of a spread-out
Bragg peak, so the RBE-weighted distal 80 % lies beyond the physical one; the published shift is
1-3 mm for McNamara et al. 2015 (Paganetti, Phys Med Biol 59 (2014) R419; McNamara 2015 fig. 6),
while in mid-SOBP the RBE for alpha/beta = 10 Gy stays near the clinical 1.1.  ``braggdesk``'s test
of the models on the demo and the figures in benchmarks/README.md both come from here.

The depth dose is the mean over the central part of the field (within ``half_width_mm`` of the beam
axis across it), which smooths the Monte Carlo noise without reaching the field's penumbra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..analysis.profiles import Profile
from ..model import DoseResult
from .rbe_dose import RbeSettings, rbe_weighted_result

CENTRAL_HALF_WIDTH_MM = 12.0  # the demo field is 60 mm wide: 18 mm from the penumbra on each side


@dataclass(frozen=True)
class SobpRbeFigures:
    settings: str
    r80_physical_mm: float  # distal 80 %: depth along the beam (+y) from the isocentre, mm
    r80_rbe_mm: float
    mid_sobp_rbe: float  # RBE-weighted over physical dose, mean over the middle of the plateau
    mid_sobp_let_kev_um: float

    @property
    def r80_shift_mm(self) -> float:
        return self.r80_rbe_mm - self.r80_physical_mm


def central_depth_profile(values: np.ndarray, result: DoseResult,
                          half_width_mm: float = CENTRAL_HALF_WIDTH_MM) -> Profile:
    """``values`` ([k, j, i] on the result's grid) averaged across the central field, along +y (the demo beam)."""
    x, y, z = result.grid.axis_coordinates_mm()
    iso_x = iso_z = 0.0  # the demo's isocentre is the phantom's origin
    cols = np.abs(x - iso_x) <= half_width_mm
    rows = np.abs(z - iso_z) <= half_width_mm
    if not cols.any() or not rows.any():
        raise ValueError(f"no voxel lies within {half_width_mm:g} mm of the beam axis on this grid")
    depth = np.asarray(values, np.float64)[rows][:, :, cols].mean(axis=(0, 2))
    return Profile(distance_mm=y, positions_mm=np.c_[np.zeros_like(y), y, np.zeros_like(y)], values=depth)


def distal_crossing_mm(profile: Profile, level: float) -> float:
    """The distal-most depth where ``profile`` falls below ``level`` (linear between samples): the distal edge
    even where the plateau ripples or slopes below the level before it."""
    v = np.nan_to_num(profile.values)
    above = np.nonzero(v >= level)[0]
    if above.size == 0 or above[-1] + 1 >= v.size:
        return float("nan")
    n = int(above[-1])
    d0, d1, v0, v1 = profile.distance_mm[n], profile.distance_mm[n + 1], v[n], v[n + 1]
    return float(d0 + (v0 - level) / (v0 - v1) * (d1 - d0))


def demo_target_depths_mm(case) -> tuple[float, float]:
    """The demo SOBP target's extent along the beam (+y), mm from the isocentre (workflow/demo.py's ROI)."""
    from .demo import demo_target_roi

    ys = np.concatenate([c[:, 1] for c in demo_target_roi(case).contours])
    return float(ys.min()), float(ys.max())


def sobp_rbe_figures(result: DoseResult, settings: RbeSettings, target_depth_mm: tuple[float, float]) -> SobpRbeFigures:
    """Distal 80 % of the physical and of the RBE-weighted central depth dose, and the RBE and LETd in mid-SOBP.

    Each distal 80 % is at 80 % of that dose's own mean over the target's depths (``target_depth_mm``, from
    the proximal to the distal end of the modulation): the prescription level of a plan, which the demo's
    sloped plateau has no single maximum for.  Mid-SOBP is the middle third of the target's depths; its RBE
    is the RBE-weighted over the physical dose there, its LETd dose-weighted."""
    physical = central_depth_profile(result.dose_gy, result)
    weighted = central_depth_profile(rbe_weighted_result(result, settings), result)
    let_dose = central_depth_profile(np.nan_to_num(result.let_kev_um) * result.dose_gy, result)
    near, far = target_depth_mm
    y = physical.distance_mm
    target = (y >= near) & (y <= far)
    third = (far - near) / 3.0
    mid = (y >= near + third) & (y <= far - third)
    if not target.any() or not mid.any():
        raise ValueError(f"the target depths {near:g}..{far:g} mm hold no voxel centre of this grid")
    d = np.nan_to_num(physical.values)
    w = np.nan_to_num(weighted.values)
    return SobpRbeFigures(
        settings.describe(), distal_crossing_mm(physical, 0.8 * float(d[target].mean())),
        distal_crossing_mm(weighted, 0.8 * float(w[target].mean())),
        float(w[mid].sum() / d[mid].sum()), float(np.nan_to_num(let_dose.values)[mid].sum() / d[mid].sum()))
