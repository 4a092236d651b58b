"""Issue 18: the demo SOBP's RBE-weighted distal 80 % against the physical one, and the mid-SOBP RBE.

    PYTHONPATH=src python benchmarks/rbe_sobp.py [--spacing 2] [--primaries 400000] [--seeds 11 12]

Prints one Markdown table row per model and seed (workflow/rbe_sobp.py: distal 80 % at 80 % of each
dose's mean over the target depths; mid-SOBP = the middle third of the target).
"""

from __future__ import annotations

import argparse
import time

import braggdesk as bd
from braggdesk.io.demo_case import demo_case
from braggdesk.workflow.rbe_dose import RbeSettings
from braggdesk.workflow.rbe_sobp import demo_target_depths_mm, sobp_rbe_figures

MODELS = (RbeSettings("mcnamara", 2.0), RbeSettings("mcnamara", 10.0), RbeSettings("wedenberg", 2.0),
          RbeSettings("wedenberg", 10.0), RbeSettings("constant"))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--spacing", type=float, default=2.0)
    p.add_argument("--primaries", type=int, default=400_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[11, 12])
    args = p.parse_args()
    case = bd.demo_case(spacing_mm=args.spacing)
    depths = demo_target_depths_mm(demo_case(args.spacing))
    print("| grid, primaries, seed | model | physical R80 (mm) | RBE-weighted R80 (mm) | shift (mm) | mid-SOBP RBE "
          "| mid-SOBP LETd (keV/um) |")
    print("|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        job = bd.make_job(case.ct, case.plan, primaries=args.primaries, batches=4, seed=seed, device="cpu",
                          calibration=case.calibration, beam_model=case.beam_model)
        start = time.perf_counter()
        dose = bd.calculate(job).run()
        run = f"{args.spacing:g} mm, {args.primaries:,}, {seed}"
        for s in MODELS:
            f = sobp_rbe_figures(dose, s, depths)
            print(f"| {run} | {s.describe().removeprefix('RBE ')} | {f.r80_physical_mm:.2f} | {f.r80_rbe_mm:.2f} | "
                  f"{f.r80_shift_mm:+.2f} | {f.mid_sobp_rbe:.3f} | {f.mid_sobp_let_kev_um:.2f} |")
        print(f"<!-- {run}: {time.perf_counter() - start:.1f} s on {dose.device}, mean uncertainty "
              f"{100 * dose.mean_relative_uncertainty:.1f} % -->")


if __name__ == "__main__":
    main()
