"""``braggdesk robust``: a plan's dose under setup and range errors, and its clinical goals in every scenario.

The scenarios are :func:`braggdesk.model.scenario.default_scenarios` (nominal, the patient shifted
by +/- ``--shift-mm`` along x, y and z, the stopping power scaled by 1 +/- ``--range-percent`` %),
each an ordinary Job (:mod:`braggdesk.compute.scenarios`); ``--combined`` adds each shift with each
range error, ``--sample N`` replaces the 6 axis shifts by N shifts drawn from a Gaussian of standard
deviation ``--shift-mm`` (with ``--seed``).  They run one after another on this
machine, or all at once on a Dask cluster (``--local-cluster N`` or any other cluster option of
``run``).  The outputs in ``--out``:

* ``robust.json``: the scenarios, each goal per scenario (value, met, margin), the worst scenario
  per goal, the DVH bands (per structure, min / max cumulative DVH over the scenarios) and the runs;
* ``dose_nominal.dcm``, ``dose_min.dcm``, ``dose_max.dcm``: the nominal dose and the voxel-wise
  minimum and maximum over the scenarios, as RT Dose;
* ``robust.pdf``: the report (:mod:`braggdesk.report.robust_report`), unless ``--no-report``.

Everything is read and checked (goals against the structures, scenario parameters) before the
first run; bad input ends with one line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .._version import __version__
from ..errors import InputError
from .common import add_run_options, settings_from_args, write_json
from .run import add_input_options, load_run_inputs
from .runner_options import add_cluster_options, cluster_spec, patient_identity


def register(sub) -> None:
    r = sub.add_parser("robust", help="robustness evaluation: setup and range error scenarios, clinical goals per "
                                      "scenario, DVH bands, min / max dose")
    add_input_options(r)
    r.add_argument("--structures", type=Path, required=True, help="RT Structure Set of the plan")
    r.add_argument("--goals", type=Path, help="clinical goals, a TOML file of [[goal]] tables")
    r.add_argument("--shift-mm", type=float, default=3.0, help="setup error: the patient shifted by +/- this along "
                                                               "x, y and z (default 3 mm; 0: no shift scenarios)")
    r.add_argument("--range-percent", type=float, default=3.5,
                   help="range error: stopping powers scaled by 1 +/- this %% (default 3.5; 0: none)")
    r.add_argument("--combined", action="store_true",
                   help="also each shift together with each range error (12 more scenarios; with --sample, each "
                        "sampled shift with each range error)")
    r.add_argument("--sample", type=int, metavar="N",
                   help="instead of the 6 shifts along the axes, N shifts drawn from a Gaussian of standard "
                        "deviation --shift-mm per axis (reproducible: drawn with --seed)")
    r.add_argument("--out", type=Path, required=True, help="folder for robust.json, robust.pdf and the RT Dose files")
    r.add_argument("--no-report", action="store_true", help="leave out the PDF report")
    add_run_options(r, default_primaries=None)
    add_cluster_options(r)
    r.set_defaults(func=run_robust)


def run_robust(args: argparse.Namespace) -> int:
    from ..analysis.clinical_goals import evaluate_goals
    from ..analysis.rasterize import rasterize_structure_set
    from ..analysis.robustness import dose_envelope, dvh_bands, goals_across_scenarios
    from ..io.goals_file import read_goals
    from ..io.rtdose import write_rtdose
    from ..io.rtstruct import read_rtstruct
    from ..model import Job
    from ..model.clinical_goals import GoalError
    from ..workflow.robustness import course_doses, course_note
    scenarios = scenarios_from_args(args)  # ScenarioError: one line, exit 2
    if args.out.exists() and not args.out.is_dir():
        raise InputError(args.out, "exists and is not a folder; --out names the folder for the results")
    goals = read_goals(args.goals) if args.goals else []
    ct, plan, model, calibration = load_run_inputs(args)
    structures = read_rtstruct(args.structures)
    masks = {m.name: m for m in rasterize_structure_set(structures, ct,
                                                        check_frame_of_reference=not args.ignore_frame_of_reference)}
    if goals:  # an unknown structure or a goal that cannot be evaluated: refused before any run
        try:
            evaluate_goals(ct.hu * 0.0, masks, goals)
        except GoalError as exc:
            raise InputError(args.goals, str(exc)) from None
    job = Job.create(ct, plan, model, calibration, settings_from_args(args),
                     ignore_frame_of_reference=args.ignore_frame_of_reference)
    print(f"braggdesk robust: {len(scenarios)} scenarios of plan {plan.label!r} ({plan.n_spots} spots) on CT "
          f"{ct.shape[::-1]}, {len(goals)} goals", file=sys.stderr)

    start = time.perf_counter()
    results, where = _run(job, scenarios, args)
    wall_s = time.perf_counter() - start

    fractions = int(plan.fractions_planned or 1)
    doses = course_doses(results, fractions)  # goals are the course's
    low, high = dose_envelope(doses)
    args.out.mkdir(parents=True, exist_ok=True)
    nominal = results[scenarios[0].name]
    files = {}
    for key, dose, what in (("nominal", doses[scenarios[0].name], "nominal"), ("min", low, "voxel-wise minimum"),
                            ("max", high, "voxel-wise maximum")):
        files[key] = str(write_rtdose(dose, nominal.grid, args.out / f"dose_{key}.dcm", plan=plan, ct=ct,
                                      comment=f"braggdesk robust: {what} over {len(scenarios)} scenarios"[:64]))
    per_goal = goals_across_scenarios(doses, masks, goals) if goals else []
    bands = dvh_bands(doses, masks, nominal=scenarios[0].name)
    summary = {
        "braggdesk_version": __version__,
        "plan": plan.label,
        "fractions": fractions,
        "where": where,
        "wall_seconds": round(wall_s, 3),
        "scenarios": [{"name": s.name, "shift_mm": list(s.shift_mm), "range_scale": s.range_scale,
                       "description": s.describe(), "primaries": results[s.name].primaries,
                       "mean_relative_uncertainty": results[s.name].mean_relative_uncertainty,
                       "max_dose_gy": results[s.name].max_dose_gy, "partial": results[s.name].partial}
                      for s in scenarios],
        "goals": [g.as_dict() for g in per_goal],
        "goals_met_in_all_scenarios": all(g.met_in_all for g in per_goal),
        "dvh_bands": [b.as_dict() for b in bands],
        "rtdose": files,
        "notes": [n for n in (course_note(fractions),) if n]
                 + list(dict.fromkeys(n for r in results.values() for n in r.notes)),
    }
    if not args.no_report:
        from ..report.pdf import write_report_pdf
        from ..report.robust_report import robust_report_data

        data = robust_report_data(plan, ct, nominal, scenarios, per_goal, bands, low, high, list(masks.values()),
                                  seed=args.seed, wall_s=wall_s, where=where, fractions=fractions)
        summary["report"] = str(write_report_pdf(data, args.out / "robust.pdf"))
    write_json(summary, str(args.out / "robust.json"))
    _print(summary, per_goal, args.out)
    return 0


def scenarios_from_args(args: argparse.Namespace) -> list:
    """The scenarios the options ask for: the standard set, or nominal + sampled shifts, each optionally with
    the shift and range errors combined."""
    from ..model.scenario import combined_scenarios, default_scenarios, sampled_scenarios

    if args.sample is not None:
        default_scenarios(args.shift_mm, args.range_percent)  # a negative shift or range: the same one line
        return sampled_scenarios(args.sample, args.shift_mm, args.seed, args.range_percent, args.combined)
    scenarios = default_scenarios(args.shift_mm, args.range_percent)
    if args.combined:
        scenarios += combined_scenarios(args.shift_mm, args.range_percent)
    return scenarios


def _run(job, scenarios, args):
    """The scenario doses and where they ran, in words."""
    from ..compute.scenarios import run_scenarios_locally, run_scenarios_on_cluster

    def show(name: str, progress) -> None:
        print(f"robust {name}: {progress.line()}", file=sys.stderr, flush=True)

    spec = cluster_spec(args)  # checks the cluster options and link; None: run here
    if spec is None:
        return run_scenarios_locally(job, scenarios, progress=show), "this machine, one scenario after another"
    from ..compute.dask_cluster import open_cluster

    with open_cluster(spec) as handle:
        workers = len(handle.client.scheduler_info().get("workers", {}))
        results = run_scenarios_on_cluster(job, scenarios, handle.client, progress=show,
                                           identity=patient_identity(args))
    return results, f"{spec.describe()}: {workers} workers, all scenarios at once"


def _print(summary: dict, per_goal, out: Path) -> None:
    lines = [f"scenarios            {len(summary['scenarios'])} in {summary['wall_seconds']:.1f} s "
             f"({summary['where']})"]
    for g in per_goal:
        state = "met in all" if g.met_in_all else f"MISSED in {len([r for r in g.results.values() if not r.met])}"
        worst = g.results[g.worst]
        lines.append(f"goal  {g.goal.label:<34} {state:<14} worst {g.worst} ({worst.value:.4g} "
                     f"{g.goal.threshold_unit})")
    lines.append(f"results              {out}")
    print("\n".join(lines))
