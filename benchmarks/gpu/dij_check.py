"""The dose-influence matrix on a GPU against the same matrix on the CPU cores (issue 14): bit for bit, and speed.

A water phantom (3 mm voxels) and a 7 x 7 spot field at 150 MeV; every spot runs ``--per-spot`` histories
on each device (the same counter-based streams, integer tallies: the two matrices must be identical),
the voxels of interest every other voxel.  Prints and writes (``--json``) the histories per second of
each device and whether the matrices agree.

    PYTHONPATH=src python benchmarks/gpu/dij_check.py [--devices gpu cpu] [--per-spot 20000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "engine"))

from cases import pencil_model, single_spot_plan, water_box, water_calibration  # noqa: E402

from braggdesk.compute.dij import LocalDij  # noqa: E402
from braggdesk.engine.device import select_device  # noqa: E402
from braggdesk.model import Job, SimulationSettings  # noqa: E402


def job() -> Job:
    spots = [(x, y) for x in np.arange(-18.0, 19.0, 6.0) for y in np.arange(-18.0, 19.0, 6.0)]
    ct = water_box(size_mm=(90.0, 240.0, 90.0), spacing_mm=(3.0, 3.0, 3.0))
    return Job.create(ct, single_spot_plan(150.0, spots=spots), pencil_model(sigma_mm=4.0, spread_mev=0.8),
                      water_calibration(), SimulationSettings(primaries=1, seed=3, device="cpu"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", nargs="+", default=["gpu", "cpu"])
    ap.add_argument("--per-spot", type=int, default=20_000)
    ap.add_argument("--json")
    args = ap.parse_args()
    the_job = job()
    voxels = np.arange(0, int(np.prod(the_job.ct.shape)), 2)
    figures, matrices = {}, {}
    for n, kind in enumerate(args.devices):
        name = kind if kind not in figures else f"{kind}-{n}"
        device = select_device(kind, None)
        warm = LocalDij(the_job, voxels, per_spot=10, device=device)  # compile / load the kernel, prepare
        list(warm.run())
        dij = LocalDij(the_job, voxels, per_spot=args.per_spot, device=device)
        t0 = time.perf_counter()
        progress = list(dij.run())[-1]
        seconds = time.perf_counter() - t0
        matrices[name] = dij.result().matrix
        figures[name] = {"device": dij.device, "histories": progress.primaries, "seconds": round(seconds, 3),
                         "histories_per_s": round(progress.primaries / seconds), "entries": int(matrices[name].nnz)}
        print(name, figures[name], flush=True)
    if len(matrices) == 2:
        a, b = matrices.values()
        figures["identical"] = bool(a.shape == b.shape and (a != b).nnz == 0)
        print("identical:", figures["identical"])
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
