"""The PDF report of an optimised plan: clinical goals, beams, DVHs of the final Monte Carlo dose beside
the optimiser's dose from the dose-influence matrix, and how the optimiser converged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from braggdesk._version import __version__
from braggdesk.analysis.dvh import dvh_of_mask, metrics_of
from braggdesk.analysis.resample import resample
from braggdesk.model import DoseResult, Volume
from braggdesk.workflow.planning import PlanningSession

from .pdf import ReportData, ReportFigure, today, write_report_pdf
from .plots import DvhCurve
from .run_report import beam_rows, plan_rows


def goal_rows(summary: dict) -> list[list[str]]:
    with_reference = any("value_reference" in g for g in summary["goals"])
    rows = [["goal", "final MC", "optimiser (Dij)"] + (["reference"] if with_reference else []) + ["result"]]
    for g in summary["goals"]:
        unit = g.get("unit") or ""
        reference = [_value(g.get("value_reference"), unit)] if with_reference else []
        rows.append([g["goal"], _value(g["value"], unit), _value(g["value_dij"], unit), *reference,
                     "met" if g["met"] else "MISSED"])
    return rows


def objective_figure(history: list[float]) -> Figure:
    fig = Figure(figsize=(8.0, 3.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    if history:
        ax.semilogy(np.arange(1, len(history) + 1), np.maximum(history, 1e-300), color="#1f77b4")
    ax.set_xlabel("iteration")
    ax.set_ylabel("objective")
    ax.grid(alpha=0.3)
    ax.set_title("Optimiser convergence")
    return fig


def plan_report_data(session: PlanningSession, final: DoseResult, total_dose_gy: np.ndarray,
                     dij_dose_gy: np.ndarray, summary: dict, reference: Volume | None = None) -> ReportData:
    inputs = session.inputs
    plan = session.products.plan
    request = inputs.request
    t = summary["timings"]
    opt = summary["optimiser"]
    rows = plan_rows(plan) + [
        ("targets", f"{', '.join(session.targets)}: {request.prescription_gy:g} Gy in {request.fractions} fractions "
                    "to the primary one"),
        ("spots designed", f"{summary['plan']['spots_designed']:,} ({opt['spots_with_mu']:,} kept with MU)"),
        ("dose-influence matrix", f"{summary['dij']['histories_per_spot']:,} histories per spot, "
                                  f"{summary['dij']['voxels']:,} voxels, {summary['dij']['entries']:,} entries"),
        ("optimiser", f"{opt['iterations']} iterations, objective {opt['objective']:.4g}"
                      + (" (stopped by the planner)" if opt["stopped"] else "")),
        ("final dose", f"full Monte Carlo, {final.primaries:,} primaries, dose to {final.dose_to}; total dose "
                       f"over {request.fractions} fractions"),
        ("time", ", ".join(f"{k.removesuffix('_s').replace('_', ' ')} {v:.0f} s" for k, v in t.items())),
    ]
    masks = list(session.masks.values())
    reference_gy = resample(reference, inputs.ct) if reference is not None else None
    curves, metrics = [], []
    for mask, colour in zip(masks, _distinct_colours(masks)):
        mc = dvh_of_mask(total_dose_gy, mask)
        dij = dvh_of_mask(dij_dose_gy, mask)
        curves += [DvhCurve(mc, colour, "MC"), DvhCurve(dij, colour, "Dij", dashed=True)]
        metrics += [("MC", metrics_of(mc)), ("Dij", metrics_of(dij))]
        if reference_gy is not None:
            metrics.append(("reference", metrics_of(dvh_of_mask(reference_gy, mask))))
    dose = inputs.ct.with_values(total_dose_gy.astype(np.float32), description="braggdesk plan dose")
    notes = [f"Doses are total doses over {request.fractions} fractions. The optimiser's dose comes from the "
             "dose-influence matrix (dashed DVHs); the plan's dose is a full Monte Carlo recalculation of the "
             "optimised plan (solid)."]
    return ReportData(
        title=f"IMPT plan: {plan.label}", ct=inputs.ct, dose=dose, summary_rows=rows,
        provenance={"engine": f"braggdesk {__version__} Monte Carlo (class II condensed history)",
                    "device": final.device, "beam model": inputs.beam_model.name,
                    "CT calibration": inputs.calibration.name, "date": today()},
        beam_rows=beam_rows(plan), uncertainty=final.uncertainty,
        mean_relative_uncertainty=final.mean_relative_uncertainty,
        isocenter_mm=plan.beams[0].isocenter_mm, structures=masks, dvh_curves=curves, metrics=metrics,
        notes=notes, goal_rows=goal_rows(summary) if summary["goals"] else [],
        figures=[ReportFigure("Optimiser", objective_figure(session.products.objective_history),
                              "Objective value after each iteration (both phases: optimisation, then the minimum MU "
                              "per spot).")],
        subtitle=f"generated {today()} by braggdesk {__version__}")


def write_plan_report(session: PlanningSession, final: DoseResult, total_dose_gy: np.ndarray,
                      dij_dose_gy: np.ndarray, summary: dict, path: str | Path, reference: Volume | None = None) -> Path:
    return write_report_pdf(plan_report_data(session, final, total_dose_gy, dij_dose_gy, summary, reference), path)


_PALETTE = ((214, 39, 40), (31, 119, 180), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75),
            (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))


def _distinct_colours(masks) -> list[tuple[int, int, int]]:
    """The structures' own colours, or a palette where two of them share one (a DVH needs them apart)."""
    own = [tuple(m.roi.color_rgb) for m in masks]
    if len(set(own)) == len(own):
        return own
    return [_PALETTE[i % len(_PALETTE)] for i in range(len(masks))]


def _value(value, unit: str) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:.2f} {unit}".strip()
