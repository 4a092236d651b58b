"""ReportData for a Monte Carlo run: the plan summary, beams, uncertainty and provenance.

What ``braggdesk demo`` (and later ``qa``) hand to :func:`braggdesk.report.pdf.write_report_pdf`.
Structures, DVHs and gamma are optional: a run without them still gets a full report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from braggdesk._version import __version__
from braggdesk.analysis.dvh import dvh_of_mask, metrics_of
from braggdesk.analysis.gamma import GammaResult
from braggdesk.analysis.resample import resample, same_geometry
from braggdesk.model import DoseResult, Plan, StructureMask, Volume

from .pdf import ReportData, today
from .plots import DvhCurve


def plan_rows(plan: Plan) -> list[tuple[str, str]]:
    rows = [("plan", plan.label or "(no label)"), ("beams", str(len(plan.beams))),
            ("energy layers", str(sum(len(b.layers) for b in plan.beams))), ("spots", f"{plan.n_spots:,}"),
            ("fractions planned", str(plan.fractions_planned))]
    if plan.prescription_dose_gy:
        per_fraction = (f" ({plan.prescription_per_fraction_gy:.4g} Gy per fraction)"
                        if plan.fractions_planned > 1 else "")
        rows.append(("prescription", f"{plan.prescription_dose_gy:g} Gy{per_fraction}"))
    return rows


def beam_rows(plan: Plan) -> list[list[str]]:
    rows = [["beam", "gantry (\u00b0)", "couch (\u00b0)", "isocentre (mm)", "layers", "energies (MeV)", "spots", "MU"]]
    for b in plan.beams:
        e = b.energies_mev
        energies = f"{e.min():.1f} \u2013 {e.max():.1f}" if len(e) else "-"
        iso = ", ".join(f"{v:.1f}" for v in b.isocenter_mm)
        rows.append([b.name, f"{b.gantry_angle_deg:g}", f"{b.couch_angle_deg:g}", iso, str(len(b.layers)),
                     energies, f"{b.n_spots:,}", f"{b.total_mu:.1f}"])
    return rows


def run_report_data(plan: Plan, ct: Volume, result: DoseResult, *, seed: int, elapsed_s: float,
                    title: str | None = None, structures: Sequence[StructureMask] = (),
                    gamma: Sequence[GammaResult] = (), extra_provenance: dict[str, str] | None = None,
                    notes: Sequence[str] = (), rbe: tuple[np.ndarray, str] | None = None) -> ReportData:
    """A report of one MC result; DVH curves and metrics for each structure on the dose.

    ``rbe``: (the RBE-weighted dose on the result's grid, its settings in words) adds each structure's
    RBE-weighted DVH (dashed, "RBE") and metrics next to the physical ones."""
    summary = plan_rows(plan) + [
        ("dose", f"dose to {result.dose_to}, maximum {result.max_dose_gy:.4g} Gy"
                 + (" (one fraction)" if plan.fractions_planned > 1 else "")),
        ("dose grid", f"{' x '.join(str(n) for n in result.grid.shape[::-1])} voxels of "
                      f"{' x '.join(f'{s:g}' for s in result.grid.spacing_mm)} mm"),
        ("primaries", f"{result.primaries:,} in {result.batches} batches"),
        ("compute time", f"{elapsed_s:.1f} s ({result.primaries / elapsed_s:,.0f} primaries/s)"
         if elapsed_s > 0 else "n/a"),
    ]
    if result.partial:
        summary.append(("status", "PARTIAL: the run was cancelled"))
    provenance = {"engine": f"braggdesk {__version__} Monte Carlo (class II condensed history)",
                  "device": result.device, "seed": str(seed), "date": today(), **(extra_provenance or {})}
    if rbe is not None:
        summary.append(("RBE-weighted dose", f"{rbe[1]}, maximum {float(np.max(rbe[0])):.4g} Gy(RBE)"))
    curves, metrics = [], []
    doses = [("MC", result.grid, False)]
    if rbe is not None:
        doses.append(("RBE", result.grid.with_values(np.asarray(rbe[0], np.float32), description="RBE-weighted dose"),
                      True))
    for mask in structures:
        for label, grid, dashed in doses:
            dose = grid.values if same_geometry(mask.grid, grid) else resample(grid, mask.grid)
            dvh = dvh_of_mask(dose, mask)
            curves.append(DvhCurve(dvh, mask.roi.color_rgb, label, dashed))
            metrics.append((label, metrics_of(dvh)))
    return ReportData(
        title=title or f"Monte Carlo dose: {plan.label}", ct=ct, dose=result, summary_rows=summary,
        provenance=provenance, beam_rows=beam_rows(plan), uncertainty=result.uncertainty,
        mean_relative_uncertainty=result.mean_relative_uncertainty,
        isocenter_mm=plan.beams[0].isocenter_mm if plan.beams else None, structures=list(structures),
        dvh_curves=curves, metrics=metrics, gamma=list(gamma), notes=list(dict.fromkeys([*result.notes, *notes])),
        subtitle=f"generated {provenance['date']} by braggdesk {__version__}")
