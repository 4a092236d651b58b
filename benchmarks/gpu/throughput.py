"""Kernel throughput on one device for the 150 MeV pencil beam in water (2 mm voxels), by batch size.

    PYTHONPATH=src python benchmarks/gpu/throughput.py --device gpu --json OUT.json

Prints and writes: primaries per second of the kernel alone (Snapshot building excluded) for
several batch sizes, with nuclear physics on and off, and the same job's per-batch Python
overhead.  The first batch (compile or cache load) is timed apart.  Used on a lent GPU machine by
benchmarks/gpu/device_check.sh; runs on the CPU too (--device cpu --threads N).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from braggdesk.benchcases.engine_speed import pencil_beam_job
from braggdesk.engine.device import select_device
from braggdesk.engine.simulate import batch_seed, prepare, run_batch


def measure(device_name: str, threads: int | None, sizes: list[int], nuclear: bool, engine: str = "full") -> dict:
    device = select_device(device_name, threads)
    job = pencil_beam_job(sum(sizes), "gpu" if device.is_gpu else "cpu")
    job.settings.nuclear = nuclear
    job.settings.engine = engine
    t0 = time.perf_counter()
    prepared = prepare(job, device)
    prepare_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    prepared.executor.run(batch_seed(1, 999), 1000)
    first_s = time.perf_counter() - t0
    rows = []
    for b, n in enumerate(sizes):
        t0 = time.perf_counter()
        tally = prepared.executor.run(batch_seed(1, b), n)
        kernel_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        snap = run_batch(prepared, 100 + b, n)
        batch_s = time.perf_counter() - t0
        rows.append({"primaries": n, "kernel_seconds": round(kernel_s, 4),
                     "kernel_primaries_per_second": round(n / kernel_s), "run_batch_seconds": round(batch_s, 4),
                     "run_batch_primaries_per_second": round(n / batch_s), "touched_voxels": int(tally.voxels.size),
                     "steps_per_primary": round(snap.counters["steps"] / n, 2)})
        print(f"{device.name} {engine} nuclear={nuclear} {n:>10,} primaries: kernel {n / kernel_s:>12,.0f}/s, "
              f"run_batch {n / batch_s:>12,.0f}/s", flush=True)
    return {"device": device.name, "engine": engine, "threads": device.threads, "nuclear": nuclear, "prepare_seconds": round(prepare_s, 3),
            "first_batch_seconds": round(first_s, 3), "batches": rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="gpu", choices=("cpu", "gpu"))
    p.add_argument("--threads", type=int)
    p.add_argument("--sizes", default="1000000,4000000,16000000", help="primaries per batch, comma-separated")
    p.add_argument("--engine", default="full", choices=("full", "track-repeat"),
                   help="track-repeat: the re-tracing kernel (its database recorded first, on the CPU; nuclear "
                        "events are in the recorded tracks, so only the nuclear-on run is made)")
    p.add_argument("--json", help="write the figures to this file")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    switches = (True, False) if args.engine == "full" else (True,)
    out = {"python": sys.version.split()[0], "runs": [measure(args.device, args.threads, sizes, nuclear, args.engine)
                                                     for nuclear in switches]}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
