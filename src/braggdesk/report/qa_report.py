"""ReportData for a plan QA: the recalculated dose against the planning system's.

What ``braggdesk qa`` hands to :func:`braggdesk.report.pdf.write_report_pdf`: the
plan and run summary, the absolute-dose check (with a warning in red when the
ratio is far from 1, and which scaling, if any, was applied), gamma at the three
criteria, DVHs of both doses (the reference dashed) with metrics and their
differences, and pages for both doses, the difference map and the profiles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from braggdesk._version import __version__
from braggdesk.analysis.plan_qa import GROSS_RATIO_LIMITS, PlanQaResult, ProfilePair
from braggdesk.model import DoseResult, Plan, Volume

from .figures import _slice_point_mm, dose_slices_figure
from .pdf import ReportData, ReportFigure, today
from .plots import DvhCurve
from .qa_figures import difference_figure, profiles_figure
from .run_report import beam_rows, plan_rows

_METRIC_LABELS = (("dmean_gy", "Dmean"), ("d98_gy", "D98"), ("d95_gy", "D95"), ("d50_gy", "D50"), ("d2_gy", "D2"),
                  ("dmax_gy", "Dmax"))


@dataclass
class QaRunInfo:
    """Where the evaluated dose came from, in words and numbers for the report."""

    reference_label: str  # e.g. "TPS (RaySearch Laboratories, PHYSICAL)"
    evaluated_label: str  # e.g. "MC" or "given dose"
    engine: str
    device: str
    seed: int | None
    mu_scale: float = 1.0
    primaries: int | None = None
    batches: int | None = None
    elapsed_s: float | None = None
    mean_relative_uncertainty: float | None = None
    target_relative_uncertainty: float | None = None
    extra_provenance: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def mismatch_warning(result: PlanQaResult, info: QaRunInfo) -> str | None:
    """The red line for a gross absolute-dose mismatch, or None."""
    r = result.ratio
    if not r.gross_mismatch:
        return None
    low, high = GROSS_RATIO_LIMITS
    text = (f"absolute dose mismatch: {info.evaluated_label}/{info.reference_label} = {r.median:.4g} (median over the "
            f"{r.region}; expected within {low:g}-{high:g}). The plan's monitor units and the beam model's protons per "
            f"MU are probably on different scales.")
    if result.scaling("normalise_to_reference") != 1.0:
        text += (f" The evaluated dose was NORMALISED to the reference (x {result.scaling('normalise_to_reference'):.4g})"
                 f" for the gamma and DVH comparison below, which therefore checks the dose shape only.")
    else:
        text += (" Gamma and DVH differences below compare absolute doses and fail accordingly; rerun with "
                 "--mu-scale FACTOR (a documented MU calibration) or --normalise-to-reference (shape only).")
    return text


def qa_report_data(plan: Plan, ct: Volume, result: PlanQaResult, info: QaRunInfo, *,
                   profiles: Sequence[ProfilePair] = (), evaluated_native: DoseResult | Volume | None = None,
                   title: str | None = None) -> ReportData:
    """The full QA report; ``evaluated_native`` is the evaluated dose on its own grid (for the dose page)."""
    ref_l, ev_l = info.reference_label, info.evaluated_label
    iso = plan.beams[0].isocenter_mm if plan.beams else None
    summary = plan_rows(plan)
    if info.primaries is not None:
        summary.append(("primaries", f"{info.primaries:,} in {info.batches} batches"))
    if info.elapsed_s:
        rate = f" ({info.primaries / info.elapsed_s:,.0f} primaries/s)" if info.primaries else ""
        summary.append(("compute time", f"{info.elapsed_s:.1f} s{rate}"))
    summary.append(("dose grid of the comparison",
                    f"the reference's: {' x '.join(str(n) for n in result.reference.shape[::-1])} voxels of "
                    f"{' x '.join(f'{s:g}' for s in result.reference.spacing_mm)} mm"))

    r = result.ratio
    comparison = [
        ("reference dose", ref_l),
        ("evaluated dose", ev_l),
        (f"dose ratio {ev_l}/{ref_l}", f"median {r.median:.4g} (5-95 %: {r.p05:.4g}-{r.p95:.4g}) over the {r.region}, "
                                       f"{r.voxels:,} voxels; measured before normalisation"),
        ("absolute dose check", "MISMATCH" if r.gross_mismatch else
         f"ratio within {GROSS_RATIO_LIMITS[0]:g}-{GROSS_RATIO_LIMITS[1]:g}"),
        ("plan MU scale (--mu-scale)", f"{info.mu_scale:g}" + ("" if info.mu_scale == 1.0 else
                                                               " (plan metersets multiplied before the calculation)")),
        ("normalisation", "none: absolute doses compared" if result.scaling("normalise_to_reference") == 1.0 else
         f"evaluated dose x {result.scaling('normalise_to_reference'):.4g} (normalised to the reference median; "
         f"shape comparison)"),
    ]
    if result.scaling("rbe") != 1.0:
        comparison.append(("RBE", f"evaluated physical dose x {result.scaling('rbe'):g} (reference RBE-weighted)"))
    comparison.append(("target", result.target or "none (high-dose region of the reference)"))
    comparison.append(("maximum dose", f"{ref_l} {np.max(result.reference.values):.4g} Gy, {ev_l} "
                                       f"{np.max(result.evaluated.values):.4g} Gy (after the scalings above)"))
    for pair in profiles:
        if pair.name == "depth dose":
            r80 = pair.distal_position_mm(80, "reference"), pair.distal_position_mm(80, "evaluated")
            if all(math.isfinite(v) for v in r80):
                comparison.append(("distal 80 % (depth dose)", f"{ref_l} {r80[0]:+.1f} mm, {ev_l} {r80[1]:+.1f} mm "
                                                               f"from the isocentre ({r80[1] - r80[0]:+.1f} mm)"))

    provenance = {"engine": info.engine, "device": info.device, "seed": "n/a" if info.seed is None else str(info.seed),
                  "braggdesk version": __version__, "date": today(), **info.extra_provenance}

    curves, metrics = [], []
    colours = {m.name: m.roi.color_rgb for m in result.masks}
    for dr, de in zip(result.reference_dvhs, result.evaluated_dvhs, strict=True):
        colour = colours.get(dr.name, (128, 128, 128))
        curves += [DvhCurve(de, colour, ev_l), DvhCurve(dr, colour, ref_l, dashed=True)]
    for c in result.structures:
        metrics += [(ev_l, c.evaluated), (ref_l, c.reference)]
    diff_rows = [["structure", "unit"] + [f"\u0394{label}" for _, label in _METRIC_LABELS]]
    for c in result.structures:
        gy, pct = c.difference_gy(), c.difference_percent()
        diff_rows.append([c.name, "Gy"] + [f"{gy[k]:+.3f}" for k, _ in _METRIC_LABELS])
        diff_rows.append(["", "%"] + [_pct(pct[k]) for k, _ in _METRIC_LABELS])

    warnings = [w for w in [mismatch_warning(result, info)] if w]
    notes = list(dict.fromkeys([*info.notes, *result.notes]))
    figures = []
    point = _slice_point_mm(result.reference.values, result.reference, iso)  # the isocentre, else the reference maximum
    figures.append(ReportFigure(
        f"Reference dose ({ref_l})",
        dose_slices_figure(result.reference, ct, title=f"{ref_l} dose", isocenter_mm=point, structures=result.masks),
        "The reference dose on its own grid, slices through the isocentre; colour wash above 10 % of its maximum, "
        "isodose lines at 50, 90 and 95 %.", with_dose=True))
    figures.append(ReportFigure(
        "Dose difference map", difference_figure(result, ct, point),
        f"{ev_l} \u2212 {ref_l} on the reference grid in % of the reference maximum "
        f"({np.max(result.reference.values):.4g} Gy), where either dose is at least 10 % of it; red: {ev_l} higher. "
        f"Colours saturate at \u00b110 %; the histogram clips at \u00b120 %."))
    if profiles:
        figures.append(ReportFigure(
            "Profiles and depth dose through the isocentre",
            profiles_figure(profiles, reference_label=ref_l, evaluated_label=ev_l),
            f"{ref_l} dashed, {ev_l} solid, sampled trilinearly on the reference grid; lower panels: the difference "
            f"in % of the profile's reference maximum where the reference is at least 10 % of it. Depth runs along "
            f"the beam, 0 at the isocentre."))

    dose_page = evaluated_native if evaluated_native is not None else result.evaluated
    if evaluated_native is not None and result.total_scale != 1.0:  # show the dose as compared
        native_grid = dose_page.grid if isinstance(dose_page, DoseResult) else dose_page
        scaled = native_grid.with_values((np.asarray(native_grid.values) * result.total_scale).astype(np.float32))
        dose_page = replace(dose_page, grid=scaled) if isinstance(dose_page, DoseResult) else scaled
        notes.append(f"The {ev_l} dose shown and compared is the calculated dose x {result.total_scale:.4g} (see "
                     f"'Comparison with the reference dose'); the calculated absolute dose is that divided by it.")
    unc = getattr(dose_page, "uncertainty", None)
    return ReportData(
        title=title or f"Plan QA: {plan.label or 'plan'}, {ev_l} against {ref_l}", ct=ct, dose=dose_page,
        summary_rows=summary, provenance=provenance, beam_rows=beam_rows(plan), uncertainty=unc,
        mean_relative_uncertainty=info.mean_relative_uncertainty, isocenter_mm=point, structures=result.masks,
        dvh_curves=curves, metrics=metrics, gamma=list(result.gamma), notes=notes,
        subtitle=f"generated {provenance['date']} by braggdesk {__version__}", warnings=warnings,
        comparison_rows=comparison + _uncertainty_rows(info), metric_difference_rows=diff_rows, figures=figures)


def _uncertainty_rows(info: QaRunInfo) -> list[tuple[str, str]]:
    if info.target_relative_uncertainty is None or not math.isfinite(info.target_relative_uncertainty):
        return []
    return [("statistical uncertainty in the target",
             f"{100 * info.target_relative_uncertainty:.2f} % (mean relative, 1 SD, {info.evaluated_label})")]


def _pct(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:+.1f} %"
