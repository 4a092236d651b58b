"""What TLS costs the Dask runner: the same job on a 2-worker LocalCluster over plain TCP and over TLS.

Both clusters run side by side on 127.0.0.1 (single-thread worker processes); the job (the
pencil150 case, 375 000 voxels: a 3 MB CT up, a 15 MB Snapshot back per batch) goes through
``DaskRunner`` with a ``ClusterSpec`` address, as ``braggdesk run --cluster`` sends it (TLS:
``--tls-ca/--tls-cert/--tls-key`` with throw-away certificates made here).  Runs alternate
TCP, TLS, TCP, TLS ... so that a change in the machine's load hits both alike; the
figure is the median and the minimum over ``--repeat`` runs each.  Also timed: cluster
start-up, and a bare round trip of the job and one Snapshot's worth of bytes.

    PYTHONPATH=src python benchmarks/dask_tls.py [--primaries 40000] [--batches 8] [--repeat 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path


def load() -> str:
    return Path("/proc/loadavg").read_text().strip() if Path("/proc/loadavg").exists() else "n/a"


def start(distributed, tls_files=None):
    """A 2-worker LocalCluster on 127.0.0.1, plain or TLS; (cluster, seconds to start)."""
    kwargs = {}
    if tls_files is not None:
        f = tls_files
        kwargs = {"protocol": "tls://", "security": distributed.Security(
            tls_ca_file=str(f.ca), tls_scheduler_cert=str(f.cert), tls_scheduler_key=str(f.key),
            tls_worker_cert=str(f.cert), tls_worker_key=str(f.key), tls_client_cert=str(f.cert),
            tls_client_key=str(f.key), require_encryption=True)}
    t0 = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, **kwargs)
    return cluster, time.perf_counter() - t0


def timed_job(spec, primaries: int, batches: int) -> tuple[float, float]:
    """(wall seconds, summed transport seconds) of one job through the runner, cluster already up."""
    from braggdesk.benchcases.engine_speed import pencil_beam_job
    from braggdesk.compute.dask_runner import DaskRunner

    job = pencil_beam_job(primaries, "cpu")
    job.settings.batches = batches
    runner = DaskRunner(job, spec)
    t0 = time.perf_counter()
    for _ in runner.run():
        pass
    return time.perf_counter() - t0, runner.total.compute_seconds


def round_trip(distributed, address: str, security, megabytes: int, repeat: int) -> float:
    """Median seconds to send ``megabytes`` to a worker and get them back (no compute): the link's own cost."""
    import numpy as np

    payload = np.random.default_rng(0).integers(0, 2**62, size=megabytes * 2**17, dtype=np.int64)  # incompressible
    with distributed.Client(address, security=security) as client:
        client.wait_for_workers(2)
        times = []
        for i in range(repeat):
            t0 = time.perf_counter()
            fut = client.scatter(payload, hash=False)
            back = client.submit(np.copy, fut, key=f"echo-{i}").result()
            times.append(time.perf_counter() - t0)
            assert back.nbytes == payload.nbytes
            del fut, back
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--primaries", type=int, default=40_000)
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5, help="runs of each kind (alternating)")
    ap.add_argument("--megabytes", type=int, default=16, help="size of the bare round trip")
    ap.add_argument("--json", help="write all figures as JSON to FILE")
    args = ap.parse_args(argv)

    import distributed

    from braggdesk import __version__
    from braggdesk.compute.certificates import throwaway_tls, write_tls
    from braggdesk.compute.dask_cluster import ClusterSpec
    from braggdesk.compute.tls import client_security

    load_before = load()
    with tempfile.TemporaryDirectory() as tmp:
        files = write_tls(Path(tmp) / "tls", throwaway_tls())
        tcp, tcp_start = start(distributed)
        tls, tls_start = start(distributed, files)
        with tcp, tls:
            specs = {"tcp": ClusterSpec(address=tcp.scheduler_address),
                     "tls": ClusterSpec(address=tls.scheduler_address, tls=files)}
            for spec in specs.values():  # warm-up: imports and first preparation on every worker
                timed_job(spec, 4_000, 2)
            runs: dict[str, list[tuple[float, float]]] = {"tcp": [], "tls": []}
            for i in range(args.repeat):
                for kind in ("tcp", "tls"):
                    wall, compute = timed_job(specs[kind], args.primaries, args.batches)
                    runs[kind].append((wall, compute))
                    print(f"run {i + 1} {kind}: wall {wall:6.2f} s, transport {compute:6.2f} s  (load {load()})",
                          file=sys.stderr, flush=True)
            echo = {"tcp": round_trip(distributed, tcp.scheduler_address, None, args.megabytes, args.repeat),
                    "tls": round_trip(distributed, tls.scheduler_address, client_security(files), args.megabytes,
                                      args.repeat)}

    def summary(kind: str) -> dict:
        walls = [w for w, _ in runs[kind]]
        return {"wall_s": [round(w, 3) for w in walls], "median_wall_s": round(statistics.median(walls), 3),
                "min_wall_s": round(min(walls), 3),
                "median_transport_s": round(statistics.median(c for _, c in runs[kind]), 3)}

    result = {
        "braggdesk_version": __version__, "python": platform.python_version(), "cores": os.cpu_count(),
        "case": "pencil150: 150 MeV pencil beam, 100 x 300 x 100 mm water, 2 mm voxels (375 000)",
        "primaries": args.primaries, "batches": args.batches, "repeat": args.repeat,
        "load_before": load_before, "load_after": load(),
        "start_s": {"tcp": round(tcp_start, 3), "tls": round(tls_start, 3)},
        "tcp": summary("tcp"), "tls": summary("tls"),
        "round_trip_megabytes": args.megabytes,
        "round_trip_s": {k: round(v, 4) for k, v in echo.items()},
    }
    t, s = result["tcp"], result["tls"]
    result["overhead_median_percent"] = round(100 * (s["median_wall_s"] / t["median_wall_s"] - 1), 1)
    result["overhead_min_percent"] = round(100 * (s["min_wall_s"] / t["min_wall_s"] - 1), 1)
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
