"""``braggdesk bench``: the speed figures of benchmarks/README.md."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import BraggdeskError
from .common import write_json
from .options import count


def register(sub) -> None:
    b = sub.add_parser("bench", help="measure primaries per second and time to 1 %% uncertainty")
    b.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    b.add_argument("--primaries", type=count, help="primaries for the pencil-beam case (default: 200 000 on the CPU, "
                                                 "20 000 000 on a GPU)")
    b.add_argument("--threads", type=count, help="CPU threads of the kernel (default: every core)")
    b.add_argument("--sobp-plan", type=Path, help="DCPT SOBP plan (plan01_sobp_eclipse RN file); default: "
                                                  "the shared test data's, found from $BRAGGDESK_SHARED_DATA or ../shared/data")
    b.add_argument("--sobp-primaries", type=count, default=200_000)
    b.add_argument("--cases", default="engine,io,gamma",
                   help="comma-separated: engine (primaries/s, time to 1 %%), io (load + rasterize a 512x512x200 "
                        "CT with 20 ROIs), gamma (128^3 at 2 %%/2 mm); default all")
    b.add_argument("--json", help="write the figures as JSON to FILE (- for standard output)")
    b.set_defaults(func=run_bench)


def run_bench(args) -> int:
    cases = {c.strip() for c in args.cases.split(",") if c.strip()}
    unknown = cases - {"engine", "io", "gamma"}
    if unknown:
        raise BraggdeskError(f"--cases: unknown {', '.join(sorted(unknown))}; choose from engine, io, gamma")
    log = lambda s: print(s, file=sys.stderr)  # noqa: E731
    figures: dict = {}
    if "engine" in cases:
        from ..benchcases.engine_speed import run_benchmarks

        figures.update(run_benchmarks(device=args.device, primaries=args.primaries, sobp_plan=args.sobp_plan,
                                      sobp_primaries=args.sobp_primaries, threads=args.threads, log=log))
    if "io" in cases:
        from ..benchcases.dicom_loading import io_benchmark

        figures.update(io_benchmark(log=log))
    if "gamma" in cases:
        from ..benchcases.gamma_speed import gamma_benchmark
        from ..analysis.array_module import array_module

        figures.update(gamma_benchmark(xp=array_module(args.device)[0], log=log))
    out = sys.stderr if args.json == "-" else sys.stdout
    for k, v in figures.items():
        print(f"{k:40s} {v}", file=out)
    write_json(figures, args.json)
    return 0
