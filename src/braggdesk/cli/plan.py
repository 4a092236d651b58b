"""``braggdesk plan``: an IMPT plan on a patient, from an objectives file to an RT Ion Plan and its MC dose.

The steps of :class:`braggdesk.workflow.planning.PlanningSession`, each with progress on stderr:
plan design, the Monte Carlo dose-influence matrix (here, on a GPU node over SSH, or blocks of spots
on a Dask cluster),
the optimiser (objective value as it goes), then the optimised plan recalculated by full Monte Carlo
on the chosen runner (here, a GPU node over SSH, or the cluster).  What each step makes is written
as soon as it exists, so a later failure or Ctrl-C loses nothing: the RT Ion Plan right after the
optimiser, the matrix (``dij.npz``) when ``--save-dij`` asks or a later step fails.

Written to ``--out``: ``RP_plan.dcm`` (RT Ion Plan), ``RD_plan.dcm`` (final MC dose),
``RD_dij.dcm`` (the optimiser's dose from the matrix), ``report.pdf`` and ``goals.json``
(clinical goals met or missed, DVH metrics per structure, objectives, timings).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..errors import DeviceError

EXIT_PARTIAL = 3  # the final dose was cancelled or its device failed: the dose of the batches done was written
#: the final dose's target when neither --primaries nor --uncertainty is given
DEFAULT_FINAL_UNCERTAINTY = 0.01


def register(sub) -> None:
    from .options import count, fraction

    p = sub.add_parser("plan", help="optimise an IMPT plan on a patient: Dij, optimiser, final MC dose, RT Ion Plan",
                       description="Optimise an IMPT plan on a patient: plan design, a Monte Carlo dose-influence "
                                   "matrix (here, on a --remote node or a Dask cluster), the optimiser, and the "
                                   "optimised plan recalculated by full Monte Carlo (to --uncertainty, default 1 %, "
                                   "or --primaries). Writes RP_plan.dcm, RD_plan.dcm, RD_dij.dcm, report.pdf and "
                                   "goals.json to --out; see docs/planning.md.")
    p.add_argument("--ct", type=Path, required=True, help="folder with the CT series")
    p.add_argument("--structures", type=Path, required=True, help="RT Structure Set (RTSTRUCT) on that CT")
    p.add_argument("--objectives", type=Path, required=True,
                   help="objectives file (TOML: prescription, beams, objectives; see docs/planning.md)")
    p.add_argument("--beam-model", help="beam model file (DCPT CSV or MCsquare BDL; default: built-in generic)")
    p.add_argument("--ct-calibration", help="folder, file or name (schneider, water); default: the CT folder's "
                                            "own ct_calibration.csv if present, else schneider")
    p.add_argument("--histories-per-spot", type=count, metavar="N",
                   help="Monte Carlo histories per spot for the matrix (default: the objectives file's, else 2000)")
    p.add_argument("--dij-uncertainty", type=fraction, metavar="U",
                   help="then more histories per spot until the matrix's mean spot uncertainty is U, e.g. 0.05 "
                        "(here, on a --remote node or on a cluster)")
    p.add_argument("--max-iterations", type=count, default=200, metavar="N", help="optimiser iterations (default 200)")
    p.add_argument("--save-dij", action="store_true", help="also write the matrix as dij.npz (scipy sparse)")
    p.add_argument("--reference-dose", type=Path, metavar="RTDOSE",
                   help="another plan's total dose on this patient (e.g. the photon plan) to compare with: its goals "
                        "and DVH metrics go into goals.json and the report")
    p.add_argument("--out", type=Path, required=True, help="folder for the plan, doses, report and goals")
    from .common import add_run_options
    from .runner_options import add_runner_options

    add_run_options(p, default_primaries=None)
    add_runner_options(p)
    p.set_defaults(func=run_plan)


def run_plan(args) -> int:
    from ..model import SimulationSettings
    from ..workflow.planning import PlanningSession, read_planning_inputs
    from .common import settings_from_args

    if args.primaries is None and args.uncertainty is None:
        args.uncertainty = DEFAULT_FINAL_UNCERTAINTY
    out = _output_folder(args.out)
    t_start = time.perf_counter()
    inputs = read_planning_inputs(args.ct, args.structures, args.objectives, args.beam_model, args.ct_calibration)
    reference = None
    if args.reference_dose is not None:
        from ..io.rtdose import read_rtdose

        reference = read_rtdose(args.reference_dose)
    if args.histories_per_spot is not None:
        inputs.request.histories_per_spot = args.histories_per_spot
    if args.dij_uncertainty is not None:
        inputs.request.dij_uncertainty = args.dij_uncertainty
    settings = settings_from_args(args)
    session = PlanningSession(inputs)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    plan = session.design()
    timings["design_s"] = time.perf_counter() - t0
    _say(f"design: {len(plan.beams)} beams, {sum(len(b.layers) for b in plan.beams)} energy layers, "
         f"{plan.n_spots:,} spots; {session.voxel_index.size:,} voxels of interest")
    for note in session.products.notes:
        _say(f"note: {note}")

    t0 = time.perf_counter()
    dij_settings = SimulationSettings(primaries=1, seed=settings.seed, device=settings.device,
                                      threads=settings.threads, dose_to=settings.dose_to)
    computation = _dij_computation(session, dij_settings, args)
    _say(f"dose-influence matrix: {session.histories_per_spot:,} histories per spot "
         f"({session.histories_per_spot * plan.n_spots:,} in all), {computation.kind}")
    last_line = 0.0
    try:
        for progress in session.compute_dij(computation):
            if time.perf_counter() - last_line > 5 or progress.spots_done == progress.n_spots:
                _say(progress.line())
                last_line = time.perf_counter()
    except KeyboardInterrupt:
        computation.cancel()
        _say("cancelled while computing the matrix; nothing optimised, nothing written")
        return 130
    timings["dij_s"] = time.perf_counter() - t0
    dij = session.products.dij
    _say(f"matrix: {dij.n_rows:,} voxels x {dij.n_spots:,} spots, {dij.matrix.nnz:,} entries, "
         f"median spot uncertainty {100 * _median(dij.spot_uncertainty):.1f} %")
    try:
        return _optimise_and_finish(args, session, settings, out, timings, t_start, reference)
    except BaseException:
        path = _save_dij(session, out)
        if path is not None:
            _say(f"the dose-influence matrix is kept in {path}")
        raise


def _optimise_and_finish(args, session, settings, out: Path, timings: dict, t_start: float, reference) -> int:
    import dataclasses

    from ..io.rtdose import write_rtdose
    from ..io.rtplan_writer import write_rt_ion_plan
    from ..io.safe_write import write_atomically
    from ..io.uids import new_uid
    from .common import run_with_progress
    from .runner_options import make_runner

    inputs = session.inputs
    t0 = time.perf_counter()
    stop = {"asked": False}

    def show(info) -> None:
        if info.iteration == 1 or info.iteration % 20 == 0:
            _say(f"optimiser: iteration {info.iteration} ({info.phase}), objective {info.objective_value:.5g}")

    try:
        result = session.optimise(callback=show, should_stop=lambda: stop["asked"],
                                  max_iterations=args.max_iterations)
    except KeyboardInterrupt:  # Ctrl-C during the optimiser: keep the best plan so far
        stop["asked"] = True
        raise
    timings["optimise_s"] = time.perf_counter() - t0
    _say(f"optimiser: {result.iterations} iterations, objective {result.objective_value:.5g} "
         f"({'stopped' if result.stopped else result.message}); {result.active_spots:,} spots with MU")
    uid = new_uid()
    plan = session.products.plan = dataclasses.replace(session.products.plan, sop_instance_uid=uid)
    rp = write_atomically(out / "RP_plan.dcm", lambda path: write_rt_ion_plan(
        plan, path, ct=inputs.ct, beam_model=inputs.beam_model, structure_set_uid=inputs.structure_set_uid,
        label="braggdesk IMPT", sop_instance_uid=uid), "RT Ion Plan")
    dij_dose = session.dij_dose_on_grid()
    rd_dij = write_atomically(out / "RD_dij.dcm", lambda path: write_rtdose(
        dij_dose, inputs.ct, path, plan=plan, ct=inputs.ct,
        comment="braggdesk optimiser dose from the dose-influence matrix"), "RT Dose")
    if args.save_dij:
        _save_dij(session, out)

    t0 = time.perf_counter()
    job = session.final_job(settings)
    runner = make_runner(job, args)
    _say(f"final dose: full Monte Carlo of the optimised plan, {runner.device}")
    partial = None
    try:
        run_with_progress(runner, "plan")
    except DeviceError as exc:
        if runner.total is None:
            raise
        partial = str(exc)
    final = runner.result()
    timings["final_dose_s"] = time.perf_counter() - t0
    total_dose = final.dose_gy * inputs.request.fractions
    comment = (f"braggdesk MC dose to {final.dose_to}, {inputs.request.fractions} fractions"
               + (" (PARTIAL)" if final.partial else ""))
    rd = write_atomically(out / "RD_plan.dcm", lambda path: write_rtdose(
        total_dose, final.grid, path, plan=plan, ct=inputs.ct, comment=comment), "RT Dose")
    timings["total_s"] = time.perf_counter() - t_start
    from ..report.plan_report import write_plan_report
    from ..workflow.plan_outputs import plan_summary

    summary = plan_summary(session, final, total_dose, dij_dose, timings, reference)
    summary.update({"rtplan": str(rp), "rtdose": str(rd), "rtdose_dij": str(rd_dij)})
    report = write_atomically(out / "report.pdf", lambda path: write_plan_report(
        session, final, total_dose, dij_dose, summary, path, reference), "plan report")
    summary["report"] = str(report)
    if partial:
        summary["device_error"] = partial
    from .common import write_json

    write_json(summary, str(out / "goals.json"))
    for goal in summary["goals"]:
        mark = "met" if goal["met"] else "MISSED"
        also = f", reference {goal['value_reference']:.2f}" if "value_reference" in goal else ""
        _say(f"goal {goal['goal']}: {goal['value']:.2f} ({mark}; from the matrix {goal['value_dij']:.2f}{also})")
    _say("times: " + ", ".join(f"{k.removesuffix('_s').replace('_', ' ')} {v:.1f} s" for k, v in timings.items()))
    _say(f"wrote {rp.name}, {rd.name}, {rd_dij.name}, {report.name} and goals.json to {out}")
    if getattr(args, "json", None):
        write_json(summary, args.json)
    return EXIT_PARTIAL if (partial or final.partial) else 0


def _dij_computation(session, settings, args):
    """Where the matrix runs: the node of --remote/--pipe, the Dask cluster of a cluster option, or here."""
    from ..workflow.targets import where_it_runs
    from .runner_options import cluster_spec, make_runner, runner_options, runner_target

    where = where_it_runs(runner_target(args), runner_options(args))
    if where == "node":
        return session.dij_computation(settings, make_remote_runner=lambda job: make_runner(job, args))
    return session.dij_computation(settings, cluster_spec=cluster_spec(args) if where == "cluster" else None)


def _output_folder(out: Path) -> Path:
    """The output folder, made and checked writable before any work starts."""
    from ..io.safe_write import check_output_folder

    return check_output_folder(out, "plan")


def _save_dij(session, out: Path) -> Path | None:
    dij = session.products.dij
    if dij is None:
        return None
    import numpy as np
    import scipy.sparse as sp

    from ..io.safe_write import write_atomically

    path = write_atomically(out / "dij.npz", lambda target: sp.save_npz(target, dij.matrix), "dose-influence matrix")
    write_atomically(out / "dij_voxels.npy", lambda target: np.save(target, dij.voxel_index), "matrix voxels")
    return path


def _median(values) -> float:
    import numpy as np

    finite = np.asarray(values)[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")


def _say(text: str) -> None:
    print(f"braggdesk plan: {text}", file=sys.stderr, flush=True)
