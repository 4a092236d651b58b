"""``braggdesk demo``: the built-in case end to end."""

from __future__ import annotations

import sys
from pathlib import Path

from .common import add_run_options, print_summary, run_summary, run_with_progress, settings_from_args


def register(sub) -> None:
    d = sub.add_parser("demo", help="built-in case end to end: RTDOSE, PNG of the dose, summary")
    d.add_argument("--out", type=Path, default=Path("braggdesk-demo"), help="output folder (default ./braggdesk-demo)")
    add_run_options(d, default_primaries=300_000)
    d.set_defaults(func=run_demo)


def run_demo(args) -> int:
    from ..compute.demo_structures import demo_target_roi
    from ..compute.local import LocalRunner
    from ..io.demo_case import demo_case
    from ..io.phantoms import write_phantom
    from ..io.rtdose import write_rtdose
    from ..model import Job
    from ..report.figures import save_dose_slices_png

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    case = demo_case()
    write_phantom(case.phantom, out / "ct", extra_rois=[demo_target_roi(case)])
    job = Job.create(case.phantom.volume, case.plan, case.beam_model, case.phantom.calibration,
                     settings_from_args(args))
    runner = LocalRunner(job)
    print(f"braggdesk demo: {case.plan.label} on the '{case.phantom.name}' phantom, "
          f"{case.plan.n_spots} spots, {job.settings.primaries or 'target'} primaries, {runner.device}",
          file=sys.stderr)
    progress = run_with_progress(runner, "demo")
    result = runner.result()
    dose_path = write_rtdose(result.dose_gy, result.grid, out / "RD_demo.dcm", plan=case.plan, ct=case.phantom.volume,
                             comment="braggdesk MC dose to " + result.dose_to)
    png = save_dose_slices_png(result, case.phantom.volume, out / "dose_slices.png", title=case.plan.label,
                               isocenter_mm=case.plan.beams[0].isocenter_mm, uncertainty=result.uncertainty)
    summary = run_summary(result, progress, runner, {"rtdose": str(dose_path), "png": str(png), "ct": str(out / "ct"),
                                                     "rtstruct": str(out / "ct" / "RS_phantom.dcm")})
    print_summary(summary, args.json)
    print(f"wrote {dose_path}, {png} and the CT with its structures in {out / 'ct'}", file=sys.stderr if args.json == "-" else sys.stdout)
    return 0
