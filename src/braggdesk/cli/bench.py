"""``braggdesk bench``: the speed figures of benchmarks/README.md."""

from __future__ import annotations

import sys
from pathlib import Path

from .common import write_json


def register(sub) -> None:
    b = sub.add_parser("bench", help="measure primaries per second and time to 1 %% uncertainty")
    b.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    b.add_argument("--primaries", type=int, default=200_000, help="primaries for the pencil-beam case")
    b.add_argument("--sobp-plan", type=Path, help="DCPT SOBP plan (plan01_sobp_eclipse RN file); default: "
                                                  "../shared/data/... when it exists")
    b.add_argument("--sobp-primaries", type=int, default=200_000)
    b.add_argument("--json", help="write the figures as JSON to FILE (- for standard output)")
    b.set_defaults(func=run_bench)


def run_bench(args) -> int:
    from ..compute.bench import run_benchmarks

    figures = run_benchmarks(device=args.device, primaries=args.primaries, sobp_plan=args.sobp_plan,
                             sobp_primaries=args.sobp_primaries, log=lambda s: print(s, file=sys.stderr))
    out = sys.stderr if args.json == "-" else sys.stdout
    for k, v in figures.items():
        print(f"{k:40s} {v}", file=out)
    write_json(figures, args.json)
    return 0
