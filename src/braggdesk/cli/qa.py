"""``braggdesk qa``: recalculate a plan with the Monte Carlo engine and check the planning system's dose.

The comparison itself is :mod:`braggdesk.analysis.plan_qa`; the PDF is
:mod:`braggdesk.report.qa_report`.  This module reads the inputs, refuses the
ones that cannot be compared before the long run starts, runs the engine (or
takes ``--dose``) and writes the report and the JSON summary.

Absolute dose is never rescaled silently.  A plan of several fractions is compared like with like: a
planning system's PLAN dose (the course) with the Monte Carlo dose of one fraction times the fractions,
said in the report and the JSON (``fractions_scale``).  A median MC / reference ratio in the
high-dose region far from 1 is reported as a mismatch (in the report, on the
terminal and in the JSON); ``--mu-scale`` (the plan's MU multiplied before the
calculation) and ``--normalise-to-reference`` (the MC dose scaled to the
reference's median afterwards: a shape-only comparison) are explicit and stated
wherever the results go.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from .._version import __version__
from ..errors import BraggdeskError, InputError
from .common import add_run_options, write_json
from .run import add_input_options, compute_dose, load_run_inputs
from .options import positive_float
from .runner_options import add_runner_options


def register(sub) -> None:
    q = sub.add_parser("qa", help="Monte Carlo recalculation of a plan against the planning system's RT Dose: "
                                  "gamma, DVHs, PDF report")
    add_input_options(q)
    q.add_argument("--structures", type=Path, required=True, help="RT Structure Set of the plan")
    q.add_argument("--reference", type=Path, required=True, help="the planning system's RT Dose (the reference)")
    q.add_argument("--dose", type=Path, help="compare this RT Dose instead of running the Monte Carlo")
    q.add_argument("--report", type=Path, required=True, help="PDF report to write")
    q.add_argument("--out", type=Path, help="also write the Monte Carlo dose (absolute, unnormalised) as RT Dose")
    q.add_argument("--target", help="ROI for the dose ratio and the target uncertainty (default: the first "
                                    "PTV/CTV/GTV of the structure set)")
    q.add_argument("--mu-scale", type=positive_float, default=1.0, metavar="FACTOR",
                   help="multiply the plan's monitor units by FACTOR before the calculation: for a plan whose MU are "
                        "on another scale than the beam model's protons per MU (stated in the report and JSON)")
    q.add_argument("--normalise-to-reference", action="store_true",
                   help="scale the evaluated dose so its median over the high-dose region of the target equals the "
                        "reference's; gamma and DVHs then check the dose shape only (stated in the report and JSON)")
    q.add_argument("--rbe", type=positive_float, default=None, metavar="FACTOR",
                   help="RBE for an RBE-weighted (EFFECTIVE) reference, e.g. 1.1: the physical evaluated dose is "
                        "multiplied by it (required for such a reference)")
    add_run_options(q, default_primaries=None)
    add_runner_options(q)
    q.set_defaults(func=run_qa)


def run_qa(args: argparse.Namespace) -> int:
    import numpy as np

    from ..analysis.plan_qa import compare_plan_doses
    from ..analysis.rasterize import rasterize_structure_set
    from ..analysis.array_module import array_module
    from ..io.rtdose import check_dose_grid_on_ct, computed_summation, read_rtdose, read_rtdose_info, write_rtdose
    from ..io.rtstruct import read_rtstruct
    from ..report.pdf import write_report_pdf
    from ..report.qa_report import qa_report_data

    if not (args.mu_scale > 0 and math.isfinite(args.mu_scale)):
        raise BraggdeskError(f"--mu-scale must be a positive number, got {args.mu_scale}")
    if args.dose is not None and args.mu_scale != 1.0:
        raise BraggdeskError("--mu-scale changes the Monte Carlo calculation; it has no meaning with --dose")

    from ..io.safe_write import check_output_path, write_atomically

    # everything read and checked before the long run, the places to write included
    check_output_path(args.report, "PDF report")
    if args.out:
        check_output_path(args.out, "RT Dose")
    inputs = load_run_inputs(args)
    ct, plan = inputs[0], inputs[1]
    reference = read_rtdose(args.reference)
    ref_info = read_rtdose_info(args.reference)
    rbe = _rbe_factor(args, ref_info)
    structures = read_rtstruct(args.structures)
    _check_frames(args, ct, reference, structures)
    check_dose_grid_on_ct(reference, ct, args.reference, ignore_frame_of_reference=args.ignore_frame_of_reference)
    masks = rasterize_structure_set(structures, reference, check_frame_of_reference=False)
    if args.target and not any(m.name.lower() == args.target.lower() for m in masks):
        raise InputError(args.structures, f"no structure named {args.target!r} with contours; there are "
                                          f"{', '.join(m.name for m in masks) or 'none'}")
    given = given_info = None
    if args.dose is not None:
        given = read_rtdose(args.dose)
        given_info = read_rtdose_info(args.dose)
        if given_info.dose_units.upper() != "GY":
            raise InputError(args.dose, f"dose units {given_info.dose_units!r}; expected GY to compare absolute doses")
        check_dose_grid_on_ct(given, ct, args.dose, ignore_frame_of_reference=args.ignore_frame_of_reference)

    run = None
    if given is None:
        result, run, plan_used, _ = compute_dose(args, "qa", inputs=inputs, mu_scale=args.mu_scale)
        evaluated, evaluated_native = result.grid, result
        if args.out:
            comment = f"braggdesk MC dose to {result.dose_to}" + (" (PARTIAL)" if result.partial else "")
            run["rtdose"] = str(write_atomically(args.out, lambda target: write_rtdose(
                result.dose_gy, result.grid, target, plan=plan_used, ct=ct, summation=computed_summation(plan_used),
                comment=comment), "RT Dose"))
    else:
        evaluated, evaluated_native = given, None
    scale, scale_note = fractions_scale(plan, ref_info.summation, given_info.summation if given_info else "FRACTION")
    if scale != 1.0:  # like with like: a course against a course, a fraction against a fraction
        evaluated = evaluated.with_values(evaluated.values * np.float32(scale), unit="Gy")

    xp, xp_device = array_module(args.device)
    print(f"braggdesk qa: comparing on the reference grid {reference.shape[::-1]} (gamma on {xp_device})",
          file=sys.stderr)
    start = time.perf_counter()
    try:
        qa = compare_plan_doses(reference, evaluated, masks, target=args.target, rbe_factor=rbe,
                                normalise_to_reference=args.normalise_to_reference, xp=xp)
    except ValueError as exc:
        raise BraggdeskError(str(exc)) from None
    compare_s = time.perf_counter() - start
    profiles = _profiles(qa, plan)
    info = _run_info(args, run, ref_info, qa, evaluated_native, given is not None)
    if scale_note:
        info.notes.insert(0, scale_note)
    data = qa_report_data(plan, ct, qa, info, profiles=profiles, evaluated_native=evaluated_native)
    write_atomically(args.report, lambda target: write_report_pdf(data, target), "PDF report")

    summary = _summary(args, run, ref_info, qa, info, profiles, compare_s)
    summary["fractions_scale"] = scale
    _print(summary, qa, info, args.json)
    write_json(summary, args.json)
    return 0


def fractions_scale(plan, reference_summation: str, evaluated_summation: str) -> tuple[float, str]:
    """(factor on the evaluated dose, a note saying why or "") so that a course is compared with a course and
    a fraction with a fraction.  A Monte Carlo dose of a DICOM plan is one FRACTION's (its MU are one
    fraction's); a planning system's PLAN dose is the whole course's."""
    n = int(plan.fractions_planned or 1)
    ref_course = reference_summation.upper() != "FRACTION"
    evaluated_course = evaluated_summation.upper() != "FRACTION"
    if n <= 1 or ref_course == evaluated_course:
        return 1.0, ""
    if ref_course:
        return float(n), (f"the reference is the course's dose (DoseSummationType {reference_summation or 'unset'}) "
                          f"and the plan has {n} fractions: the evaluated dose of one fraction is compared x {n}")
    return 1.0 / n, (f"the reference is one fraction's dose and the plan has {n} fractions: the evaluated course "
                     f"dose is compared / {n}")


def _rbe_factor(args, ref_info) -> float:
    if ref_info.dose_units.upper() != "GY":
        raise InputError(args.reference, f"dose units {ref_info.dose_units!r}; expected GY to compare absolute doses")
    if ref_info.rbe_weighted and args.rbe is None:
        raise InputError(args.reference, "the reference dose is RBE-weighted (DoseType EFFECTIVE), the Monte Carlo "
                                         "dose physical; give --rbe (e.g. 1.1) to compare them")
    if not ref_info.rbe_weighted and args.rbe not in (None, 1.0):
        raise InputError(args.reference, f"the reference dose is {ref_info.dose_type}, not RBE-weighted; --rbe "
                                         f"applies to an EFFECTIVE reference only")
    rbe = 1.0 if args.rbe is None else args.rbe
    if not (rbe > 0 and math.isfinite(rbe)):
        raise BraggdeskError(f"--rbe must be a positive number, got {args.rbe}")
    return rbe


def _check_frames(args, ct, reference, structures) -> None:
    """Reference dose and structures on one frame of reference; on the CT's unless told to ignore it."""
    ref_for, ss_for = reference.frame_of_reference_uid, structures.frame_of_reference_uid
    if ref_for and ss_for and ref_for != ss_for:
        raise InputError(args.structures, f"structures are on frame of reference {ss_for}, the reference dose "
                                          f"({args.reference}) on {ref_for}; expected the planning system's pair")
    if not args.ignore_frame_of_reference and ss_for and ct.frame_of_reference_uid \
            and ss_for != ct.frame_of_reference_uid:
        raise InputError(args.structures, f"structures are on frame of reference {ss_for}, the CT on "
                                          f"{ct.frame_of_reference_uid}; give --ignore-frame-of-reference if the CT "
                                          f"is a stand-in (e.g. a phantom) placed like the planning CT")


def _profiles(qa, plan):
    from ..analysis.plan_qa import profiles_through
    from ..engine.geometry import beam_frame
    from ..errors import PlanError

    if not plan.beams:
        return []
    beam = plan.beams[0]
    try:
        frame = beam_frame(beam, plan.patient_position or "HFS")
    except PlanError:
        return []
    return profiles_through(qa, beam.isocenter_mm, frame.direction,
                            [("beam X", frame.spot_x_axis), ("beam Y", frame.spot_y_axis)])


def _target_uncertainty(qa, evaluated_native) -> float | None:
    """Mean relative uncertainty of the MC dose over the high-dose voxels of the target (or of the reference)."""
    import numpy as np

    from ..analysis.plan_qa import high_dose_region
    from ..analysis.resample import resample

    unc = getattr(evaluated_native, "uncertainty", None)
    if unc is None:
        return None
    on_ref = resample(evaluated_native.grid.with_values(unc, unit="1"), qa.reference, outside="nan")
    target = next((m for m in qa.masks if m.name == qa.target), None) if qa.target else None
    region, _ = high_dose_region(qa.reference.values, target)
    values = on_ref[region & np.isfinite(on_ref)]
    return float(values.mean()) if values.size else None


def _run_info(args, run, ref_info, qa, evaluated_native, given: bool):
    from ..report.qa_report import QaRunInfo

    reference_label = "TPS"
    notes = []
    extra = {"reference RT Dose": f"{Path(args.reference).name} ({ref_info.manufacturer or 'unknown maker'}, "
                                  f"{ref_info.dose_type}, {ref_info.summation})"}
    if given:
        return QaRunInfo(reference_label=reference_label, evaluated_label="evaluated", device="n/a", seed=None,
                         engine=f"given RT Dose {Path(args.dose).name}", extra_provenance=extra, notes=notes)
    extra.update({"beam model": run["beam_model"], "CT calibration": run["ct_calibration"],
                  "dose to": run["dose_to"]})
    if run["frame_of_reference_ignored"]:
        notes.append("frame of reference ignored (--ignore-frame-of-reference): the CT stands in for the planning CT")
    return QaRunInfo(reference_label=reference_label, evaluated_label="MC",
                     engine=f"braggdesk {__version__} Monte Carlo (class II condensed history)", device=run["device"],
                     seed=args.seed, mu_scale=args.mu_scale, primaries=run["primaries"], batches=run["batches"],
                     elapsed_s=run["seconds"], mean_relative_uncertainty=run["mean_relative_uncertainty"],
                     target_relative_uncertainty=_target_uncertainty(qa, evaluated_native),
                     extra_provenance=extra, notes=notes + list(run["notes"]))


def _summary(args, run, ref_info, qa, info, profiles, compare_s: float) -> dict:
    from ..report.pdf import today

    out = {
        "braggdesk_version": __version__, "date": today(), "plan": str(args.plan), "reference": str(args.reference),
        "reference_dose_type": ref_info.dose_type, "structures_file": str(args.structures), "report": str(args.report),
        "dose_source": "given" if args.dose is not None else "monte_carlo",
        "evaluated": str(args.dose) if args.dose is not None else (run or {}).get("rtdose"),
        "engine": info.engine, "device": info.device, "seed": info.seed, "mu_scale": args.mu_scale,
        "comparison_seconds": round(compare_s, 2),
    }
    if run is not None:
        u = run["mean_relative_uncertainty"]
        out.update({
            "primaries": run["primaries"], "batches": run["batches"], "seconds": run["seconds"],
            "primaries_per_second": run["primaries_per_second"], "partial": run["partial"], "dose_to": run["dose_to"],
            "beam_model": run["beam_model"], "ct_calibration": run["ct_calibration"],
            "mean_relative_uncertainty_percent": 100 * u if u is not None else None,
            "target_relative_uncertainty_percent": (100 * info.target_relative_uncertainty
                                                    if info.target_relative_uncertainty is not None else None),
            "frame_of_reference_ignored": run["frame_of_reference_ignored"],
        })
    out.update(qa.summary())
    for pair in profiles:
        if pair.name == "depth dose":
            out["distal_r80_reference_mm"] = pair.distal_position_mm(80, "reference")
            out["distal_r80_evaluated_mm"] = pair.distal_position_mm(80, "evaluated")
    out["notes"] = list(dict.fromkeys([*info.notes, *out.get("notes", [])]))
    return out


def _print(summary: dict, qa, info, json_target) -> None:
    from ..report.qa_report import mismatch_warning

    out = sys.stderr if json_target == "-" else sys.stdout
    lines = [f"gamma {g.criteria.label:<34} pass rate {g.pass_rate_percent:6.2f} % of {g.evaluated_voxels:,} voxels"
             for g in qa.gamma]
    r = qa.ratio
    lines.append(f"dose ratio {info.evaluated_label}/{info.reference_label}   median {r.median:.4g} "
                 f"(5-95 % {r.p05:.4g}-{r.p95:.4g}) over the {r.region}")
    for s in qa.scalings:
        lines.append(f"scaling              {s.name} x {s.factor:.4g}: {s.reason}")
    if summary.get("mean_relative_uncertainty_percent") is not None:
        lines.append(f"MC uncertainty       {summary['mean_relative_uncertainty_percent']:.2f} % (voxels above 50 % "
                     f"of the maximum)")
    for c in qa.structures:
        lines.append(f"{c.name:<20} Dmean {info.reference_label} {c.reference.dmean_gy:.4g} Gy, "
                     f"{info.evaluated_label} {c.evaluated.dmean_gy:.4g} Gy ({c.difference_percent()['dmean_gy']:+.1f} %)")
    lines.append(f"report               {summary['report']}")
    warning = mismatch_warning(qa, info)
    if warning:
        lines.append(f"WARNING: {warning}")
    print("\n".join(lines), file=out)
