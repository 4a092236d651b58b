"""The ``braggdesk`` command: subcommands in the style of git.

Every long job shows progress (a bar on a terminal, plain lines when piped);
``--json FILE`` (``-`` for standard output) writes a machine-readable summary.
Bad input ends with one line on stderr naming the file and the problem, and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Sequence

from . import __version__
from .errors import BraggdeskError, PlanError

EXIT_INPUT = 2
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except BraggdeskError as exc:
        print(f"braggdesk {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print(f"braggdesk {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="braggdesk", description="Monte Carlo proton dose calculation workstation")
    p.add_argument("--version", action="version", version=f"braggdesk {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser("demo", help="built-in case end to end: RTDOSE, PNG of the dose, summary")
    d.add_argument("--out", type=Path, default=Path("braggdesk-demo"), help="output folder (default ./braggdesk-demo)")
    _add_run_options(d, default_primaries=300_000)
    d.set_defaults(func=_cmd_demo)

    ph = sub.add_parser("phantom", help="write a built-in phantom as a DICOM CT series with its CT calibration")
    ph.add_argument("name", help="water, slab or dcpt")
    ph.add_argument("--out", type=Path, required=True, help="output folder")
    ph.add_argument("--geometry", help="dcpt only: geometry A-G of dcpt-let-2022/docs/geometry.md (default A)")
    ph.add_argument("--spacing", type=float, default=2.0, help="voxel size in mm (default 2)")
    ph.add_argument("--isocenter", help="isocentre x,y,z in mm (default 0,0,0)")
    ph.add_argument("--plan", type=Path, help="place the phantom at the isocentre of this RT Ion Plan's first beam")
    ph.set_defaults(func=_cmd_phantom)

    r = sub.add_parser("run", help="Monte Carlo dose of a plan on a CT, written as RTDOSE")
    r.add_argument("--ct", type=Path, required=True, help="folder with the CT series")
    r.add_argument("--plan", type=Path, required=True, help="RT Ion Plan file")
    r.add_argument("--beam-model", help="beam model file (DCPT CSV or MCsquare BDL; default: built-in generic)")
    r.add_argument("--ct-calibration", help="folder, file or name (schneider, water); default: the CT folder's "
                                            "own ct_calibration.csv if present, else schneider")
    r.add_argument("--ignore-frame-of-reference", action="store_true",
                   help="run a plan whose frame of reference differs from the CT's (e.g. on a phantom)")
    r.add_argument("--out", type=Path, required=True, help="RTDOSE file to write")
    _add_run_options(r, default_primaries=None)
    r.set_defaults(func=_cmd_run)

    b = sub.add_parser("bench", help="measure primaries per second and time to 1 %% uncertainty")
    b.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    b.add_argument("--primaries", type=int, default=200_000, help="primaries for the pencil-beam case")
    b.add_argument("--sobp-plan", type=Path, help="DCPT SOBP plan (plan01_sobp_eclipse RN file); default: "
                                                  "../shared/data/... when it exists")
    b.add_argument("--sobp-primaries", type=int, default=200_000)
    b.add_argument("--json", help="write the figures as JSON to FILE (- for standard output)")
    b.set_defaults(func=_cmd_bench)
    return p


def _add_run_options(p: argparse.ArgumentParser, default_primaries: int | None) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--primaries", type=int, default=default_primaries, help="number of primary protons")
    g.add_argument("--uncertainty", type=float, help="target mean relative uncertainty, e.g. 0.01")
    p.add_argument("--batches", type=int, default=10, help="batches (with --primaries)")
    p.add_argument("--batch-size", type=int, help="primaries per batch (with --uncertainty)")
    p.add_argument("--max-primaries", type=int, default=1_000_000_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    p.add_argument("--dose-to", choices=("water", "medium"), default="water")
    p.add_argument("--no-nuclear", action="store_true", help="switch off nonelastic nuclear interactions")
    p.add_argument("--json", help="write a summary as JSON to FILE (- for standard output)")


def _settings(args):
    from .model import SimulationSettings

    primaries = args.primaries
    if args.uncertainty is None and primaries is None:
        primaries = 1_000_000
    try:
        return SimulationSettings(
            primaries=None if args.uncertainty is not None else primaries,
            target_uncertainty=args.uncertainty, batches=args.batches, primaries_per_batch=args.batch_size,
            max_primaries=args.max_primaries, seed=args.seed, device=args.device, dose_to=args.dose_to,
            nuclear=not args.no_nuclear)
    except ValueError as exc:
        raise BraggdeskError(str(exc)) from None


def _run_with_progress(runner, label: str):
    """Drive a runner, showing a bar on a terminal or plain lines when piped; returns the last Progress."""
    last = None
    tty = sys.stderr.isatty()
    bar = None
    if tty:
        from tqdm import tqdm

        bar = tqdm(total=1000, desc=label, unit="", bar_format="{desc} {bar} {postfix}", file=sys.stderr)
    try:
        for prog in runner.run():
            last = prog
            if bar is not None:
                bar.n = int(1000 * prog.fraction_done)
                bar.set_postfix_str(prog.line(), refresh=True)
            else:
                print(f"{label}: {prog.line()}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        runner.cancel()
        print(f"{label}: cancelled; keeping the {0 if last is None else last.primaries:,} primaries done",
              file=sys.stderr)
        if last is None:
            raise
    finally:
        if bar is not None:
            bar.close()
    return last


def _summary(result, progress, runner, extra: dict) -> dict:
    notes = list(dict.fromkeys(runner.notes + result.notes))
    return {
        "braggdesk_version": __version__,
        "primaries": result.primaries,
        "batches": result.batches,
        "seconds": round(progress.elapsed_s, 3) if progress else 0.0,
        "primaries_per_second": round(progress.primaries_per_second, 1) if progress else 0.0,
        "mean_relative_uncertainty": result.mean_relative_uncertainty,
        "device": runner.device,
        "max_dose_gy": result.max_dose_gy,
        "dose_to": result.dose_to,
        "partial": result.partial,
        "notes": notes,
        **extra,
    }


def _print_summary(summary: dict, json_target: str | None) -> None:
    u = summary["mean_relative_uncertainty"]
    unc = f"{100 * u:.2f} %" if math.isfinite(u) else "n/a"
    print(f"primaries            {summary['primaries']:,}")
    print(f"time                 {summary['seconds']:.1f} s")
    print(f"primaries per second {summary['primaries_per_second']:,.0f}")
    print(f"mean uncertainty     {unc} (voxels above 50 % of the maximum dose)")
    print(f"max dose             {summary['max_dose_gy']:.4g} Gy (dose to {summary['dose_to']})")
    print(f"device               {summary['device']}")
    for note in summary["notes"]:
        print(f"note                 {note}")
    if summary.get("partial"):
        print("note                 PARTIAL result: the run was cancelled")
    _write_json(summary, json_target)


def _write_json(data: dict, target: str | None) -> None:
    if not target:
        return
    def clean(v):
        return None if isinstance(v, float) and not math.isfinite(v) else v
    text = json.dumps({k: clean(v) for k, v in data.items()}, indent=2)
    if target == "-":
        print(text)
    else:
        Path(target).write_text(text + "\n")


def _cmd_demo(args) -> int:
    from .compute.local import LocalRunner
    from .io.demo_case import demo_case
    from .io.phantoms import write_phantom
    from .io.rtdose import write_rtdose
    from .model import Job
    from .report.figures import save_dose_slices_png

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    case = demo_case()
    write_phantom(case.phantom, out / "ct")
    job = Job.create(case.phantom.volume, case.plan, case.beam_model, case.phantom.calibration, _settings(args))
    runner = LocalRunner(job)
    print(f"braggdesk demo: {case.plan.label} on the '{case.phantom.name}' phantom, "
          f"{case.plan.n_spots} spots, {job.settings.primaries or 'target'} primaries, {runner.device}",
          file=sys.stderr)
    progress = _run_with_progress(runner, "demo")
    result = runner.result()
    dose_path = write_rtdose(result.dose_gy, result.grid, out / "RD_demo.dcm", plan=case.plan, ct=case.phantom.volume,
                             comment="braggdesk MC dose to " + result.dose_to)
    png = save_dose_slices_png(result, case.phantom.volume, out / "dose_slices.png", title=case.plan.label,
                               isocenter_mm=case.plan.beams[0].isocenter_mm, uncertainty=result.uncertainty)
    summary = _summary(result, progress, runner, {"rtdose": str(dose_path), "png": str(png), "ct": str(out / "ct")})
    _print_summary(summary, args.json)
    print(f"wrote {dose_path}, {png} and the CT in {out / 'ct'}")
    return 0


def _parse_xyz(text: str | None) -> tuple[float, float, float]:
    if not text:
        return (0.0, 0.0, 0.0)
    try:
        x, y, z = (float(v) for v in text.split(","))
    except ValueError:
        raise BraggdeskError(f"--isocenter expects x,y,z in mm, got {text!r}") from None
    return (x, y, z)


def _cmd_phantom(args) -> int:
    from .io.phantoms import PHANTOM_NAMES, make_phantom, write_phantom

    if args.name not in PHANTOM_NAMES:
        raise BraggdeskError(f"unknown phantom {args.name!r}: choose one of {', '.join(PHANTOM_NAMES)}")
    iso = _parse_xyz(args.isocenter)
    if args.plan is not None:
        from .io.rtplan import read_rt_ion_plan

        iso = tuple(read_rt_ion_plan(args.plan).beams[0].isocenter_mm)
    try:
        phantom = make_phantom(args.name, geometry=args.geometry, isocenter_mm=iso, spacing_mm=args.spacing)
    except ValueError as exc:
        raise BraggdeskError(str(exc)) from None
    files = write_phantom(phantom, args.out)
    print(f"{phantom.description}")
    print(f"wrote {len(files)} files to {args.out} (CT series {phantom.volume.shape[::-1]} voxels, "
          f"spacing {phantom.volume.spacing_mm} mm, isocentre {iso} mm, with ct_calibration.csv)")
    return 0


def load_run_inputs(args):
    from .io.beam_model import read_beam_model
    from .io.ct_calibration import find_calibration_in_folder, read_ct_calibration
    from .io.dicom_ct import read_ct_series
    from .io.rtplan import read_rt_ion_plan

    ct = read_ct_series(args.ct)
    plan = read_rt_ion_plan(args.plan)
    model = read_beam_model(args.beam_model)
    if args.ct_calibration:
        calibration = read_ct_calibration(args.ct_calibration)
    else:
        calibration = find_calibration_in_folder(args.ct) or read_ct_calibration("schneider")
    return ct, plan, model, calibration


def _cmd_run(args) -> int:
    from .compute.local import LocalRunner
    from .io.rtdose import write_rtdose
    from .model import Job

    ct, plan, model, calibration = load_run_inputs(args)
    job = Job.create(ct, plan, model, calibration, _settings(args),
                     ignore_frame_of_reference=args.ignore_frame_of_reference)
    runner = LocalRunner(job)
    print(f"braggdesk run: plan {plan.label!r} ({len(plan.beams)} beams, {plan.n_spots} spots) on CT "
          f"{ct.shape[::-1]} with beam model '{model.name}' and calibration '{calibration.name}', "
          f"{runner.device}", file=sys.stderr)
    try:
        progress = _run_with_progress(runner, "run")
    except PlanError as exc:
        raise PlanError(f"{args.plan}: {exc}") from None
    result = runner.result()
    path = write_rtdose(result.dose_gy, result.grid, args.out, plan=plan, ct=ct,
                        comment=f"braggdesk MC dose to {result.dose_to}" + (" (PARTIAL)" if result.partial else ""))
    summary = _summary(result, progress, runner, {"rtdose": str(path), "beam_model": model.name,
                                                  "ct_calibration": calibration.name,
                                                  "frame_of_reference_ignored": bool(args.ignore_frame_of_reference)})
    _print_summary(summary, args.json)
    return 0


def _cmd_bench(args) -> int:
    from .compute.bench import run_benchmarks

    figures = run_benchmarks(device=args.device, primaries=args.primaries, sobp_plan=args.sobp_plan,
                             sobp_primaries=args.sobp_primaries, log=lambda s: print(s, file=sys.stderr))
    for k, v in figures.items():
        print(f"{k:40s} {v}")
    _write_json(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
