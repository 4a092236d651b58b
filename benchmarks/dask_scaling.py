"""Scaling of the Dask runner: wall time for 1..W workers, fitted to Amdahl's law with a per-task overhead.

Model (one job of N primaries in K batches on w single-thread workers):

    T(w, K) = S + (C + K * o) / w

C is the pure transport time (the sum of the batches' own compute seconds, measured
on the workers), S the part that does not shrink with more workers (scatter, the
per-worker preparation, dose scale, final merge), o the cost each task adds
(scheduling, moving the Snapshot back, merging it).  Runs with two batch counts
separate o from S; then the parallel fraction is p = (C + K o) / T(1, K), and
Amdahl predicts the speed-up 1 / ((1 - p) + p / n) for n workers.  A batch keeps the
overhead under 2 % when its transport time exceeds o / 0.02.

    PYTHONPATH=src python benchmarks/dask_scaling.py [--workers 1 2] [--primaries 160000] [--json FILE]

Cluster start-up is not timed (a cluster serves many jobs).  On a machine with as
many cores as workers the fit is clean; on 2 cores the client and scheduler share the
cores with the workers, which shows up as overhead (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np


def timed_run(client, job) -> tuple[float, float, int]:
    """(wall seconds, summed compute seconds, batches) of one job on the cluster."""
    from braggdesk.compute.dask_runner import DaskRunner

    runner = DaskRunner(job, client=client)
    t0 = time.perf_counter()
    for _ in runner.run():
        pass
    wall = time.perf_counter() - t0
    return wall, runner.total.compute_seconds, runner.total.n_batches


def fit(rows: list[dict]) -> dict:
    """Least squares of T - C/w = S + K o / w over all runs: S and o."""
    a = np.array([[1.0, r["batches"] / r["workers"]] for r in rows])
    y = np.array([r["wall_s"] - r["compute_s"] / r["workers"] for r in rows])
    (serial_s, overhead_s), *_ = np.linalg.lstsq(a, y, rcond=None)
    return {"serial_s": float(serial_s), "overhead_per_task_s": float(overhead_s)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--primaries", type=int, default=160_000)
    ap.add_argument("--batches", type=int, nargs="+", default=[8, 32], help="batch counts (two or more)")
    ap.add_argument("--repeat", type=int, default=2, help="runs per point; the fastest counts")
    ap.add_argument("--json", help="write all figures as JSON to FILE")
    args = ap.parse_args(argv)

    import distributed

    from braggdesk import __version__
    from braggdesk.benchcases.engine_speed import pencil_beam_job

    rows = []
    for w in args.workers:
        with distributed.LocalCluster(n_workers=w, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            timed_run(client, pencil_beam_job(2 * w * 1000, "cpu"))  # warm-up: imports on every worker
            for k in args.batches:
                best = None
                for _ in range(args.repeat):
                    job = pencil_beam_job(args.primaries, "cpu")  # a new job id: prepared afresh, as a user's job
                    job.settings.batches = k
                    got = timed_run(client, job)
                    best = got if best is None or got[0] < best[0] else best
                wall, compute, batches = best
                rows.append({"workers": w, "batches": batches, "wall_s": round(wall, 3),
                             "compute_s": round(compute, 3)})
                print(f"workers {w:3d}  batches {batches:4d}  wall {wall:7.2f} s  transport {compute:7.2f} s",
                      file=sys.stderr, flush=True)

    model = fit(rows)
    s, o = model["serial_s"], model["overhead_per_task_s"]
    base = {r["batches"]: r for r in rows if r["workers"] == min(args.workers)}
    k_ref = max(args.batches)
    t1 = base[k_ref]["wall_s"] * min(args.workers)  # as if on one worker
    c_ref = base[k_ref]["compute_s"]
    p = (c_ref + k_ref * o) / (s + c_ref + k_ref * o)
    for r in rows:
        one = base[r["batches"]]
        r["speedup"] = round(one["wall_s"] / r["wall_s"] * min(args.workers), 3)
    # The engine's own fixed cost per batch (allocating and converting the per-voxel tallies) shows
    # as transport time that grows with K at fixed N: C(K) = N / rate + K f, from the one-worker runs.
    ks = sorted(base)
    f = (base[ks[-1]]["compute_s"] - base[ks[0]]["compute_s"]) / (ks[-1] - ks[0])
    rate = args.primaries / (base[ks[0]]["compute_s"] - ks[0] * f)  # primaries per second of one worker
    batch_2pct = o / 0.02 * rate
    batch_2pct_all = (o + max(f, 0.0)) / 0.02 * rate
    figures = {
        "braggdesk_version": __version__, "python": platform.python_version(), "cores": os.cpu_count(),
        "case": "pencil150: 150 MeV pencil beam, 100 x 300 x 100 mm water, 2 mm voxels (375 000)",
        "primaries": args.primaries, "runs": rows, **{k: round(v, 4) for k, v in model.items()},
        "parallel_fraction": round(p, 4), "single_worker_wall_s": round(t1, 3),
        "primaries_per_second_per_worker": round(rate, 1),
        "predicted_speedup": {n: round(1 / ((1 - p) + p / n), 1) for n in (10, 100, 200)},
        "engine_fixed_per_batch_s": round(f, 4),
        "batch_primaries_for_overhead_below_2_percent": int(np.ceil(batch_2pct)),
        "batch_primaries_for_dask_and_engine_overhead_below_2_percent": int(np.ceil(batch_2pct_all)),
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
