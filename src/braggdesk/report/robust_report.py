"""The robustness report: the nominal dose report plus the goals per scenario, DVH bands and the dose spread.

Built on :func:`braggdesk.report.run_report.run_report_data` (summary, beams, nominal dose, DVHs), so a
robustness PDF reads like every other braggdesk report; what it adds are three figure pages:

* clinical goals per scenario: one row per goal, one column per scenario, green where met and red
  where missed, with the value in each cell and the worst scenario of each goal outlined;
* DVH bands: per structure the envelope (min to max over the scenarios) shaded, the nominal DVH drawn;
* the dose spread, max - min over the scenarios, on the three planes through the isocentre.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from braggdesk.analysis.robustness import DvhBand, GoalAcrossScenarios
from braggdesk.model import DoseResult, Plan, StructureMask, Volume
from braggdesk.model.scenario import Scenario

from .figures import dose_slices_figure
from .pdf import ReportData, ReportFigure
from .run_report import run_report_data

_MET, _MISSED, _NO_VALUE = "#b8e2b0", "#f4a3a3", "#dddddd"


def goal_matrix_figure(per_goal: Sequence[GoalAcrossScenarios], scenario_names: Sequence[str]) -> Figure:
    """Goals (rows) x scenarios (columns): met green, missed red, the value written in, the worst outlined."""
    rows, cols = len(per_goal), len(scenario_names)
    fig = Figure(figsize=(8.0, 1.2 + 0.42 * max(rows, 1)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for i, g in enumerate(per_goal):
        for j, name in enumerate(scenario_names):
            r = g.results[name]
            colour = _NO_VALUE if not np.isfinite(r.value) else (_MET if r.met else _MISSED)
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor=colour, edgecolor="white", lw=1.5))
            text = f"{r.value:.3g}" if np.isfinite(r.value) else "n/a"
            ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=7)
        w = list(scenario_names).index(g.worst)
        ax.add_patch(Rectangle((w + 0.04, i + 0.06), 0.92, 0.88, fill=False, edgecolor="black", lw=1.6))
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.set_xticks(np.arange(cols) + 0.5, list(scenario_names), rotation=35, ha="right", fontsize=7)
    ax.set_yticks(np.arange(rows) + 0.5, [g.goal.label for g in per_goal], fontsize=7)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title("Clinical goals per scenario (green met, red missed; outlined: the worst scenario)", fontsize=9)
    return fig


def dvh_band_figure(bands: Sequence[DvhBand], colours: Mapping[str, tuple[int, int, int]]) -> Figure:
    """Each structure's DVH band (min to max over the scenarios) shaded, its nominal DVH as a line."""
    fig = Figure(figsize=(8.0, 4.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    top = 0.0
    for b in bands:
        c = np.asarray(colours.get(b.structure, (80, 80, 80))) / 255.0
        ax.fill_between(b.dose_gy, b.min_percent, b.max_percent, color=c, alpha=0.3, lw=0)
        if b.nominal_percent is not None:
            ax.plot(b.dose_gy, b.nominal_percent, color=c, lw=1.3, label=b.structure)
        top = max(top, float(b.dose_gy[-1]))
    ax.set_xlim(0, top * 1.02 if top > 0 else 1)
    ax.set_ylim(0, 102)
    ax.set_xlabel("dose (Gy)")
    ax.set_ylabel("volume (%)")
    ax.grid(alpha=0.3)
    ax.set_title("DVH bands: nominal (line) and the envelope over the scenarios (shaded)")
    if bands:
        ax.legend(fontsize=7, ncol=2 if len(bands) > 8 else 1, loc="upper right", framealpha=0.8)
    return fig


def robust_report_data(plan: Plan, ct: Volume, nominal: DoseResult, scenarios: Sequence[Scenario],
                       per_goal: Sequence[GoalAcrossScenarios], bands: Sequence[DvhBand], low_gy: np.ndarray,
                       high_gy: np.ndarray, masks: Sequence[StructureMask], *, seed: int, wall_s: float,
                       where: str, fractions: int = 1) -> ReportData:
    """The report of a robustness evaluation (nominal dose, goals per scenario, bands, spread).  ``low_gy``,
    ``high_gy``, the goals and bands are of the course (``fractions`` x a scenario's dose of one fraction);
    the nominal dose's own pages show one fraction."""
    data = run_report_data(plan, ct, nominal, seed=seed, elapsed_s=0.0, structures=masks,
                           title=f"Robustness evaluation: {plan.label}",
                           extra_provenance={"scenarios computed on": where})
    missed = [g for g in per_goal if not g.met_in_all]
    data.summary_rows = [row for row in data.summary_rows if row[0] != "compute time"] + [
        ("scenarios", f"{len(scenarios)}: " + ", ".join(s.name for s in scenarios)),
        ("compute time", f"{wall_s:.1f} s for all scenarios"),
        ("goals, bands, spread", "the course dose" + (f": {fractions} fractions x the dose of one fraction"
                                                      if fractions > 1 else " (one fraction)")),
        ("clinical goals", "none given" if not per_goal else
         f"{len(per_goal) - len(missed)} of {len(per_goal)} met in every scenario"),
    ]
    data.warnings += [f"goal {g.goal.label} missed in {sum(not r.met for r in g.results.values())} of "
                      f"{len(g.results)} scenarios (worst: {g.worst})" for g in missed]
    data.notes += [f"scenario {s.name}: {s.describe()}" for s in scenarios]
    names = [s.name for s in scenarios]
    if per_goal:
        data.figures.append(ReportFigure("Clinical goals per scenario", goal_matrix_figure(per_goal, names),
                                         "Value of each goal's metric (Gy, % or cm3 as the goal states) in each "
                                         "scenario."))
    colours = {m.name: m.roi.color_rgb for m in masks}
    if bands:
        data.figures.append(ReportFigure("DVH bands", dvh_band_figure(bands, colours),
                                         "Per structure, the cumulative DVH of the nominal scenario and the range "
                                         "the scenarios span at each dose."))
    spread = nominal.grid.with_values((high_gy - low_gy).astype(np.float32), description="max - min over scenarios")
    data.figures.append(ReportFigure(
        "Dose spread over the scenarios",
        dose_slices_figure(spread, ct, title="max - min dose over the scenarios (Gy)",
                           isocenter_mm=data.isocenter_mm, structures=list(masks)),
        "Voxel-wise maximum minus minimum dose over all scenarios; large where a setup or range error moves a "
        "dose gradient."))
    return data
