"""``braggdesk gamma REFERENCE EVALUATED``: 3D gamma between two RT Dose files.

The evaluated dose is interpolated onto the reference grid when the grids differ;
the pass rate is printed for people and written, in percent, under the plain key
``pass_rate_percent`` with ``--json``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .common import write_json
from .options import non_negative_float, positive_float


def register(sub) -> None:
    g = sub.add_parser("gamma", help="3D gamma index between two RT Dose files (reference, evaluated)")
    g.add_argument("reference", type=Path, help="reference RT Dose (e.g. the planning system's)")
    g.add_argument("evaluated", type=Path, help="evaluated RT Dose (e.g. the Monte Carlo recalculation)")
    g.add_argument("--dose-percent", type=positive_float, default=2.0, help="dose difference criterion in %% (default 2)")
    g.add_argument("--dta-mm", type=positive_float, default=2.0, help="distance to agreement in mm (default 2)")
    g.add_argument("--cutoff-percent", type=non_negative_float, default=10.0,
                   help="reference voxels below this %% of the maximum are not evaluated (default 10)")
    g.add_argument("--local", action="store_true", help="local gamma (dose criterion relative to each voxel)")
    g.add_argument("--max-gamma", type=positive_float, default=2.0, help="gammas above this are reported as this value")
    g.add_argument("--device", choices=("auto", "cpu", "gpu"), default="cpu")
    g.add_argument("--json", help="write the result as JSON to FILE (- for standard output)")
    g.set_defaults(func=run_gamma)


def run_gamma(args) -> int:
    from ..analysis.gamma import GammaCriteria, gamma_index
    from ..analysis.array_module import array_module
    from ..errors import BraggdeskError
    from ..io.rtdose import read_rtdose, read_rtdose_info

    try:
        criteria = GammaCriteria(dose_percent=args.dose_percent, dta_mm=args.dta_mm,
                                 cutoff_percent=args.cutoff_percent, local=args.local, max_gamma=args.max_gamma)
    except ValueError as exc:
        raise BraggdeskError(str(exc)) from None
    infos = [read_rtdose_info(p) for p in (args.reference, args.evaluated)]
    if infos[0].dose_units.upper() != infos[1].dose_units.upper():
        raise BraggdeskError(f"{args.evaluated}: dose units {infos[1].dose_units!r} differ from the reference's "
                             f"{infos[0].dose_units!r} ({args.reference}); gamma needs both in the same units")
    summations = [i.summation.upper() for i in infos]
    notes = []
    if "FRACTION" in summations and summations[0] != summations[1]:  # compared as they are, but said
        notes.append(f"the reference is a {summations[0] or 'unset'} dose, the evaluated a {summations[1] or 'unset'} "
                     "dose (DoseSummationType): one fraction against the whole course? 'braggdesk qa' scales by the "
                     "plan's fractions")
    reference, evaluated = read_rtdose(args.reference), read_rtdose(args.evaluated)
    xp, xp_device = array_module(args.device)
    start = time.perf_counter()
    result = gamma_index(reference, evaluated, criteria, xp=xp)
    seconds = time.perf_counter() - start
    summary = {
        "reference": str(args.reference), "evaluated": str(args.evaluated),
        **result.summary(), "criteria": criteria.label, "seconds": round(seconds, 3), "device": xp_device,
        "reference_max_gy": float(reference.values.max()), "evaluated_max_gy": float(evaluated.values.max()),
        "reference_shape": list(reference.shape), "notes": notes,
    }
    out = sys.stderr if args.json == "-" else sys.stdout
    print("\n".join([
        f"gamma {criteria.label}",
        f"pass rate            {result.pass_rate_percent:.2f} % of {result.evaluated_voxels:,} voxels",
        f"mean gamma           {summary['mean_gamma']:.3f}   95th percentile {summary['gamma_p95']:.3f}",
        f"normalisation        {result.normalisation_gy:.4g} Gy (reference maximum)",
        f"time                 {seconds:.2f} s on {xp_device}",
    ] + (["note                 the evaluated dose was interpolated onto the reference grid"]
         if result.resampled else []) + [f"note                 {n}" for n in notes]), file=out)
    write_json(summary, args.json)
    return 0
