"""``braggdesk run``: Monte Carlo dose of a plan on a CT, written as RTDOSE."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import DeviceError, OutputError, PlanError
from .common import add_run_options, print_summary, run_summary, run_with_progress, settings_from_args
from .rbe_options import add_rbe_options, rbe_settings_from_args
from .runner_options import add_runner_options, make_runner


def register(sub) -> None:
    r = sub.add_parser("run", help="Monte Carlo dose of a plan on a CT, written as RTDOSE")
    add_input_options(r)
    r.add_argument("--out", type=Path, required=True, help="RTDOSE file to write")
    r.add_argument("--identified", action="store_true",
                   help="write the CT's patient name, ID and study into the RTDOSE (default: de-identified)")
    r.add_argument("--export", metavar="DIR", type=Path,
                   help="also write the dose, uncertainty and LETd maps there (and, with --structures, the DVH "
                        "curves and metrics as CSV): the files File > Export and bd.export_result write")
    r.add_argument("--export-format", choices=("nrrd", "mhd"), default="nrrd", help="map format (default nrrd)")
    r.add_argument("--structures", type=Path, help="RTSTRUCT whose structures the exported DVHs and metrics cover "
                                                   "(and --alpha-beta-structure names)")
    r.add_argument("--rbe-out", type=Path, help="where --rbe writes the RBE-weighted RT Dose (default: --out with "
                                                "_rbe before the suffix)")
    add_rbe_options(r)
    add_run_options(r, default_primaries=None)
    add_runner_options(r)
    r.set_defaults(func=run_run)


def add_input_options(p: argparse.ArgumentParser) -> None:
    """The CT, plan, beam model and calibration options that ``run`` and ``qa`` share."""
    p.add_argument("--ct", type=Path, required=True, help="folder with the CT series")
    p.add_argument("--plan", type=Path, required=True, help="RT Ion Plan file")
    p.add_argument("--beam-model", help="beam model file (DCPT CSV or MCsquare BDL; default: built-in generic)")
    p.add_argument("--ct-calibration", help="folder, file or name (schneider, water); default: the CT folder's "
                                            "own ct_calibration.csv if present, else schneider")
    p.add_argument("--ignore-frame-of-reference", action="store_true",
                   help="run a plan whose frame of reference differs from the CT's (e.g. on a phantom)")


def load_run_inputs(args):
    """CT, plan, beam model and CT calibration named by the command line (defaults: workflow/jobs.py)."""
    from ..io.rtplan import read_rt_ion_plan
    from ..workflow.jobs import beam_model_and_calibration
    from ..workflow.workspace import Workspace

    # a folder with several CT series: the one the plan refers to (through its structure set or frame of reference)
    ct = Workspace.open(args.ct).ct(referenced_by=args.plan)
    plan = read_rt_ion_plan(args.plan)
    model, calibration, _ = beam_model_and_calibration(args.beam_model, args.ct_calibration or None, args.ct)
    return ct, plan, model, calibration


def job_from_args(args, inputs=None, mu_scale: float = 1.0):
    """The Job the command line asks for, built by the code the GUI builds its job with (workflow/jobs.py);
    (BuiltJob, ct, plan, model, calibration); ``mu_scale`` multiplies the plan's monitor units first."""
    from ..workflow.jobs import build_job

    ct, plan, model, calibration = inputs if inputs is not None else load_run_inputs(args)
    if mu_scale != 1.0:
        plan = plan.with_meterset_scale(mu_scale)
    built = build_job(ct, plan, beam_model=model, calibration=calibration, settings=settings_from_args(args),
                      ignore_frame_of_reference=args.ignore_frame_of_reference)
    return built, ct, plan, model, calibration


def compute_dose(args, label: str, inputs=None, mu_scale: float = 1.0):
    """Load the inputs (or take ``inputs`` from :func:`load_run_inputs`), run the job on the chosen runner
    with progress; (result, summary, plan, ct).  ``mu_scale`` multiplies the plan's monitor units first."""
    built, ct, plan, model, calibration = job_from_args(args, inputs, mu_scale)
    job, calibration_notes = built.job, built.notes
    runner = make_runner(job, args)
    print(f"braggdesk {label}: plan {plan.label!r} ({len(plan.beams)} beams, {plan.n_spots} spots) on CT "
          f"{ct.shape[::-1]} with beam model '{model.name}' and calibration '{calibration.name}', "
          f"{runner.device}", file=sys.stderr)
    for note in calibration_notes:
        print(f"braggdesk {label}: note: {note}", file=sys.stderr)
    device_error = None
    try:
        progress = run_with_progress(runner, label)
    except PlanError as exc:
        raise PlanError(f"{args.plan}: {exc}") from None
    except DeviceError as exc:  # a GPU that fails mid-run: the batches done are kept
        if runner.total is None:
            raise
        device_error = str(exc)
        progress = None
        print(f"braggdesk {label}: error: {exc}; the {runner.total.primaries:,} primaries done are kept (PARTIAL)",
              file=sys.stderr)
    result = runner.result()
    for note in dict.fromkeys(result.notes):  # what the engine found (densities beyond the calibration ...)
        if note not in calibration_notes:
            print(f"braggdesk {label}: note: {note}", file=sys.stderr)
    summary = run_summary(result, progress, runner, {"beam_model": model.name, "ct_calibration": calibration.name,
                                                     "frame_of_reference_ignored":
                                                         bool(args.ignore_frame_of_reference)})
    summary["notes"] = list(dict.fromkeys(calibration_notes + summary["notes"]))
    if device_error:
        summary["device_error"] = device_error
    return result, summary, plan, ct


def export_result(args, result, plan, ct) -> list[Path]:
    """``--export DIR``: the maps, and with ``--structures`` the DVH and metrics CSVs (workflow/api.py)."""
    from ..workflow import api

    stats = None
    if args.structures is not None:
        from ..io.rtstruct import read_rtstruct

        stats = api.dose_statistics(result, [read_rtstruct(args.structures)], ct,
                                    reference_gy=plan.prescription_per_fraction_gy)
    return api.export_result(args.export, result, stats, suffix=f".{args.export_format}")


def rbe_structure_masks(args, rbe, ct) -> list:
    """The structures ``--alpha-beta-structure`` names, rasterized on the CT; RbeError for a name not there."""
    from ..analysis.rasterize import rasterize_structure_set
    from ..analysis.rbe import alpha_beta_map
    from ..io.rtstruct import read_rtstruct

    masks = rasterize_structure_set(read_rtstruct(args.structures), ct,
                                    check_frame_of_reference=not args.ignore_frame_of_reference)
    alpha_beta_map(ct.shape, {m.name: m for m in masks}, dict(rbe.alpha_beta_by_structure), rbe.alpha_beta_gy)
    return masks


def write_rbe_dose(path: Path, result, rbe, masks, plan, ct, args, identity) -> Path:
    """The RBE-weighted dose (workflow/rbe_dose.py, what the GUI shows and bd.rbe_weighted gives) as an RT Dose
    of DoseType EFFECTIVE."""
    from ..io.rtdose import computed_summation, write_rtdose
    from ..io.safe_write import write_atomically
    from ..workflow.rbe_dose import rbe_weighted_result

    rbe_gy = rbe_weighted_result(result, rbe, masks)
    comment = rbe.describe()[:64]
    return write_atomically(path, lambda target: write_rtdose(
        rbe_gy, result.grid, target, plan=plan, ct=ct, identity=identity, identified=args.identified,
        dose_type="EFFECTIVE", summation=computed_summation(plan), comment=comment), "RT Dose (RBE-weighted)")


EXIT_PARTIAL = 3  # cancelled, or the device failed mid-run: the dose of the batches done was written, PARTIAL


def run_run(args) -> int:
    from ..io.deidentify import read_patient_identity
    from ..io.rtdose import computed_summation, write_rtdose
    from ..io.safe_write import check_output_path, write_atomically

    check_output_path(args.out, "RT Dose")  # a read-only folder or a folder name: refused before the long run
    if args.export is not None:
        from ..io.safe_write import check_output_folder

        check_output_folder(args.export, "exports")
    identity = read_patient_identity(args.ct) if args.identified else None  # fail before the long run
    rbe = rbe_settings_from_args(args, args.structures is not None)  # a bad model, alpha/beta or fractions: refused before the run
    rbe_out = (args.rbe_out or args.out.with_name(f"{args.out.stem}_rbe{args.out.suffix or '.dcm'}")) if rbe else None
    inputs, rbe_masks = None, []
    if rbe_out is not None:
        check_output_path(rbe_out, "RT Dose (RBE-weighted)")
        if rbe.alpha_beta_by_structure:  # an unknown structure name: refused before the run
            inputs = load_run_inputs(args)
            rbe_masks = rbe_structure_masks(args, rbe, inputs[0])
    result, summary, plan, ct = compute_dose(args, "run", inputs)
    comment = f"braggdesk MC dose to {result.dose_to}" + (" (PARTIAL)" if result.partial else "")
    try:
        path = write_atomically(args.out, lambda target: write_rtdose(
            result.dose_gy, result.grid, target, plan=plan, ct=ct, identity=identity, identified=args.identified,
            summation=computed_summation(plan), comment=comment), "RT Dose")
    except OutputError as exc:  # the summary still says what was computed, and where the dose went
        summary["rtdose"] = None if exc.kept_at is None else str(exc.kept_at)
        summary["write_error"] = str(exc)
        print_summary(summary, args.json)
        raise
    summary["rtdose"] = str(path)
    if rbe is not None:
        summary["rtdose_rbe"] = str(write_rbe_dose(rbe_out, result, rbe, rbe_masks, plan, ct, args,
                                                        identity))
        summary["rbe"] = rbe.describe()
    if args.export is not None:
        summary["exported"] = [str(p) for p in export_result(args, result, plan, ct)]
    print_summary(summary, args.json)
    return EXIT_PARTIAL if result.partial else 0
