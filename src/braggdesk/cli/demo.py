"""``braggdesk demo``: the built-in case end to end."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import BraggdeskError
from .common import add_run_options, print_summary, run_summary, run_with_progress, settings_from_args
from .options import positive_float
from .rbe_options import add_rbe_options, rbe_settings_from_args

DEMO_SPACING_MM = 3.0
DEMO_UNCERTAINTY = 0.02  # run until the mean uncertainty over voxels above half the maximum dose is 2 %


def register(sub) -> None:
    d = sub.add_parser("demo", help="built-in case end to end: RTDOSE, PNG of the dose, PDF report, summary")
    d.add_argument("--out", type=Path, default=Path("braggdesk-demo"), help="output folder (default ./braggdesk-demo)")
    d.add_argument("--spacing", type=positive_float, default=DEMO_SPACING_MM,
                   help=f"voxel size of the phantom and the dose grid [mm] (default {DEMO_SPACING_MM:g}, a clinical "
                        "proton dose grid)")
    add_rbe_options(d)
    add_run_options(d, default_primaries=None)
    d.set_defaults(func=run_demo, uncertainty=DEMO_UNCERTAINTY)


def run_demo(args) -> int:
    from ..analysis.rasterize import rasterize_structure_set
    from ..workflow.demo import demo_target_roi
    from ..compute.local import LocalRunner
    from ..io.demo_case import demo_case
    from ..io.phantoms import write_phantom
    from ..io.rtdose import write_rtdose
    from ..io.rtstruct import read_rtstruct
    from ..model import Job
    from ..report.figures import save_dose_slices_png
    from ..report.pdf import write_report_pdf
    from ..report.run_report import run_report_data

    if args.primaries is not None:  # a number of primaries replaces the default target uncertainty
        args.uncertainty = None
    if not 0.5 <= args.spacing <= 10.0:
        raise BraggdeskError(f"--spacing {args.spacing:g} mm: choose a voxel size between 0.5 and 10 mm")
    from ..io.safe_write import check_output_folder

    out: Path = check_output_folder(args.out, "demo outputs")  # before the run, not after it
    rbe = rbe_settings_from_args(args)  # the demo's structures: External, the slabs and the target
    case = demo_case(args.spacing)
    written = write_phantom(case.phantom, out / "ct", extra_rois=[demo_target_roi(case)])
    rtstruct = next(p for p in written if p.name == "RS_phantom.dcm")
    # the structures as a user's RTSTRUCT would arrive: read back and rasterized on the CT grid
    masks = rasterize_structure_set(read_rtstruct(rtstruct), case.phantom.volume, check_frame_of_reference=False)
    job = Job.create(case.phantom.volume, case.plan, case.beam_model, case.phantom.calibration,
                     settings_from_args(args))
    runner = LocalRunner(job)
    print(f"braggdesk demo: {case.plan.label} on the '{case.phantom.name}' phantom, "
          f"{case.plan.n_spots} spots, {args.spacing:g} mm voxels, "
          + (f"{job.settings.primaries:,} primaries" if job.settings.primaries else
             f"until {100 * job.settings.target_uncertainty:g} % mean uncertainty") + f", {runner.device}",
          file=sys.stderr)
    progress = run_with_progress(runner, "demo")
    result = runner.result()
    dose_path = write_rtdose(result.dose_gy, result.grid, out / "RD_demo.dcm", plan=case.plan, ct=case.phantom.volume,
                             comment="braggdesk MC dose to " + result.dose_to)
    png = save_dose_slices_png(result, case.phantom.volume, out / "dose_slices.png", title=case.plan.label,
                               isocenter_mm=case.plan.beams[0].isocenter_mm, uncertainty=result.uncertainty)
    rbe_report = None
    if rbe is not None:
        from ..workflow.rbe_dose import rbe_weighted_result

        rbe_gy = rbe_weighted_result(result, rbe, masks)
        rbe_path = write_rtdose(rbe_gy, result.grid, out / "RD_demo_rbe.dcm", plan=case.plan,
                                ct=case.phantom.volume, dose_type="EFFECTIVE", comment=rbe.describe()[:64])
        rbe_report = (rbe_gy, rbe.describe())
    elapsed = progress.elapsed_s if progress else result.compute_seconds
    report = write_report_pdf(
        run_report_data(case.plan, case.phantom.volume, result, seed=job.settings.seed, elapsed_s=elapsed,
                        title=f"braggdesk demo: {case.plan.label}", notes=runner.notes, structures=masks,
                        extra_provenance={"case": f"built-in '{case.phantom.name}' phantom, demonstration plan"},
                        rbe=rbe_report),
        out / "report.pdf")
    summary = run_summary(result, progress, runner, {"rtdose": str(dose_path), "png": str(png), "pdf": str(report),
                                                     "ct": str(out / "ct"),
                                                     "rtstruct": str(rtstruct)})
    if rbe_report is not None:
        summary["rtdose_rbe"] = str(rbe_path)
    print_summary(summary, args.json)
    print(f"wrote {dose_path}, {png}, {report} and the CT with its structures in {out / 'ct'}",
          file=sys.stderr if args.json == "-" else sys.stdout)
    return 0
