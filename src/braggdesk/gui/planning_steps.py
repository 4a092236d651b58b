"""The planning panel's steps as plain functions (no Qt): what runs in the planning worker thread.

Each step drives :class:`braggdesk.workflow.planning.PlanningSession` exactly as
``braggdesk plan`` does (cli/plan.py) and has the worker's shape
``step(..., report, stop) -> result``.  What a step makes lands in a session the
panel keeps only when the step succeeds, so a failing or stopped step leaves the
earlier products (the matrix, the optimised plan) as they were.

Optimising again after the objectives changed makes a new session for the new
request that takes over the designed plan and the matrix of the old one: the
objectives' structures are looked up on the matrix's rows, so a new objective on
a structure the matrix covers needs no new matrix.  What changes the spots
(targets, beams, spacing, histories per spot) does.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..analysis.dvh import Dvh, bin_width_for, compute_dvh
from ..compute.progress import Progress
from ..compute.runner import Runner
from ..errors import BraggdeskError
from ..io.json_values import json_clean
from ..model import BeamModel, CtCalibration, DoseResult, SimulationSettings, StructureSet, Volume
from ..model.objectives import PlanningRequest
from ..planning.optimiser import IterationInfo
from ..workflow.planning import PlanningInputs, PlanningSession

Report = Callable[[Any], None]
#: what a DVH curve needs: the curve and its structure's colour
ColouredDvh = tuple[Dvh, tuple[int, int, int]]
#: optimiser DVHs no more often than this (each costs a sort per structure, and a redraw)
LIVE_DVH_INTERVAL_S = 0.25


@dataclass
class OptimiserUpdate:
    """One optimiser iteration as the panel shows it: the values, the curve so far, the DVHs on the matrix."""

    info: IterationInfo
    history: list[float]
    dvhs: list[ColouredDvh]


@dataclass
class Optimised:
    session: PlanningSession  # the session that holds the new plan (and the matrix)
    dvhs: list[ColouredDvh]  # of the optimised plan, on the matrix's rows
    notes: list[str]


@dataclass
class FinalDose:
    """The optimised plan's full Monte Carlo dose, per fraction (``result``) and in total."""

    session: PlanningSession
    result: DoseResult
    total_dose_gy: np.ndarray
    max_total_gy: float


# -- inputs ------------------------------------------------------------------------------
def merged_structures(structure_sets: list[StructureSet]) -> StructureSet:
    """One structure set from those the window holds (a name seen twice: the first one's ROI)."""
    if not structure_sets:
        raise BraggdeskError("no structures are loaded: open the patient's RTSTRUCT (File > Open folder) first")
    if len(structure_sets) == 1:
        return structure_sets[0]
    seen, rois = set(), []
    for ss in structure_sets:
        for roi in ss.rois:
            if roi.name not in seen:
                seen.add(roi.name)
                rois.append(roi)
    first = structure_sets[0]
    return dataclasses.replace(first, rois=rois, notes=[n for ss in structure_sets for n in ss.notes])


def planning_inputs(ct: Volume, structure_sets: list[StructureSet], beam_model: BeamModel,
                    calibration: CtCalibration, request: PlanningRequest, request_label: str = "") -> PlanningInputs:
    """The window's patient and the panel's request as a session's inputs (the RTSTRUCT's UID read from its file)."""
    structures = merged_structures(structure_sets)
    uid = ""
    if structures.source_path and Path(structures.source_path).is_file():
        from ..io.rtstruct import read_sop_instance_uids

        uid = read_sop_instance_uids([structures.source_path])[0]
    return PlanningInputs(ct, structures, beam_model, calibration, request, request_label, uid)


def dij_settings(run_settings: SimulationSettings, threads: int) -> SimulationSettings:
    """The matrix's settings: the run panel's device and seed; histories come from the request."""
    return SimulationSettings(primaries=1, seed=run_settings.seed, device=run_settings.device, threads=threads,
                              dose_to=run_settings.dose_to)


# -- DVHs on the matrix's rows -------------------------------------------------------------
def rows_dvhs(session: PlanningSession, dose_rows: np.ndarray) -> list[ColouredDvh]:
    """DVH of every structure of the session from a dose on the matrix's rows (the optimiser's dose)."""
    voxel_cm3 = float(np.prod(session.inputs.ct.spacing_mm)) / 1000.0
    dose_rows = np.asarray(dose_rows, dtype=np.float64)
    top = float(dose_rows.max()) if dose_rows.size else 0.0
    bin_gy = bin_width_for(top)  # one width for every structure, as the window's DVHs (workflow/structure_stats.py)
    out = []
    for name, mask in session.masks.items():
        rows = session.structure_rows.get(name)
        if rows is None or rows.size == 0:
            continue
        dose = dose_rows[rows]
        out.append((compute_dvh(dose, np.ones_like(dose), voxel_cm3, name=name, bin_gy=bin_gy), mask.roi.color_rgb))
    return out


# -- the matrix ----------------------------------------------------------------------------
def compute_dij(inputs: PlanningInputs, settings: SimulationSettings, cluster_spec, report: Report,
                stop: threading.Event, make_remote_runner=None) -> PlanningSession:
    """A new session: structures, plan design and the matrix (``products.dij`` stays None when stopped);
    on the Dask cluster of ``cluster_spec``, or the node ``make_remote_runner(job)`` reaches, or here."""
    session = PlanningSession(inputs)
    session.design()
    computation = session.dij_computation(settings, cluster_spec=cluster_spec, make_remote_runner=make_remote_runner)
    for progress in session.compute_dij(computation):
        report(progress)
        if stop.is_set():
            computation.cancel()
    return session


# -- the optimiser -------------------------------------------------------------------------
def session_for(previous: PlanningSession, request: PlanningRequest) -> tuple[PlanningSession, list[str]]:
    """A session for ``request`` that reuses the matrix of ``previous`` (which is left untouched); notes."""
    return previous.with_request(request)


def optimise(previous: PlanningSession, request: PlanningRequest, max_iterations: int, report: Report,
             stop: threading.Event, interval_s: float = LIVE_DVH_INTERVAL_S) -> Optimised:
    """The optimiser on the matrix of ``previous``; a few updates per second with DVHs; Stop keeps the best."""
    session, notes = session_for(previous, request)
    last = [-math.inf]

    def callback(info: IterationInfo) -> None:
        if time.perf_counter() - last[0] >= interval_s:
            report(OptimiserUpdate(info, list(session.products.objective_history), rows_dvhs(session, info.dose_gy)))
            last[0] = time.perf_counter()

    result = session.optimise(callback=callback, should_stop=stop.is_set, max_iterations=max_iterations)
    return Optimised(session, rows_dvhs(session, result.dose_gy), notes)


# -- the final dose ------------------------------------------------------------------------
def final_dose(session: PlanningSession, runner: Runner | Callable[[], Runner], report: Report,
               stop: threading.Event) -> FinalDose:
    """The optimised plan by full Monte Carlo on ``runner`` (built here when given as a function)."""
    runner = runner if isinstance(runner, Runner) else runner()
    last: Progress | None = None
    for progress in runner.run():
        last = progress
        report(progress)
        if stop.is_set():
            runner.cancel()
    if last is None:
        raise BraggdeskError("the final dose was stopped before its first batch finished")
    result = runner.result()
    total = (result.dose_gy * session.inputs.request.fractions).astype(np.float32)
    return FinalDose(session, result, total, float(total.max()) if total.size else 0.0)


# -- export --------------------------------------------------------------------------------
def export_plan(session: PlanningSession, final: FinalDose | None, folder: Path, timings: dict[str, float],
                report: Report, stop: threading.Event) -> list[Path]:
    """RT Ion Plan and the matrix's RTDOSE; with a final dose also its RTDOSE, the PDF report and goals.json."""
    from ..io.rtdose import write_rtdose
    from ..io.rtplan_writer import write_rt_ion_plan
    from ..io.uids import new_uid

    plan, inputs = session.products.plan, session.inputs
    if plan is None:
        raise BraggdeskError("no optimised plan yet: Optimise first")
    uid = new_uid()  # as braggdesk plan: the RTDOSEs reference the plan file written here
    plan = dataclasses.replace(plan, sop_instance_uid=uid)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BraggdeskError(f"{folder}: cannot write the plan there ({exc.strerror or exc})") from None
    written = [write_rt_ion_plan(plan, folder / "RP_plan.dcm", ct=inputs.ct, beam_model=inputs.beam_model,
                                 structure_set_uid=inputs.structure_set_uid or None, label="braggdesk IMPT",
                                 sop_instance_uid=uid)]
    dij_dose = session.dij_dose_on_grid()
    written.append(write_rtdose(dij_dose, inputs.ct, folder / "RD_dij.dcm", plan=plan, ct=inputs.ct,
                                comment="braggdesk optimiser dose from the dose-influence matrix"))
    if final is None or final.session is not session:
        return written
    from ..report.plan_report import write_plan_report
    from ..workflow.plan_outputs import plan_summary

    fractions = inputs.request.fractions
    written.append(write_rtdose(final.total_dose_gy, final.result.grid, folder / "RD_plan.dcm", plan=plan, ct=inputs.ct,
                                comment=f"braggdesk MC dose to {final.result.dose_to}, {fractions} fractions"
                                        + (" (PARTIAL)" if final.result.partial else "")))
    summary = plan_summary(session, final.result, final.total_dose_gy, dij_dose, timings)
    summary["rtplan"], summary["rtdose"], summary["rtdose_dij"] = (str(p) for p in written)
    written.append(write_plan_report(session, final.result, final.total_dose_gy, dij_dose, summary,
                                     folder / "report.pdf"))
    summary["report"] = str(written[-1])
    (folder / "goals.json").write_text(json.dumps(json_clean(summary), indent=2) + "\n")
    written.append(folder / "goals.json")
    return written


