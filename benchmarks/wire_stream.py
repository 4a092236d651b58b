"""Remote-run figures for benchmarks/README.md: overhead, bytes per snapshot, compression, stream MB/s.

    PYTHONPATH=src python benchmarks/wire_stream.py [--primaries N] [--batches K] [--device cpu|gpu|auto]
        [--ssh USER@HOST:PORT --identity KEY --known-hosts FILE --remote-command CMD] [--json FILE]

Runs the built-in demo case three ways with the same seed: locally, through ``braggdesk worker``
over a local pipe (the same framing and job folder as over SSH), and, with --ssh, over SSH.  The
pipe and SSH doses are checked bit for bit against the local one.  Needs numpy and scipy only
(plus asyncssh for --ssh): it runs on the lent GPU machine as it is.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import zlib

import numpy as np

from braggdesk.compute.local import LocalRunner
from braggdesk.compute.remote import PipeRunner, local_worker_command
from braggdesk.io import wire, wire_jobs
from braggdesk.io.demo_case import demo_case
from braggdesk.model import Job, SimulationSettings


def timed_run(runner):
    t0 = time.perf_counter()
    for _ in runner.run():
        pass
    return time.perf_counter() - t0, runner.result()


def codec_sizes(snap) -> dict:
    sizes = {c: len(wire.encode_snapshot(snap, c)) for c in ("raw", "zlib", "shuffle-zlib")}
    sizes["dense_raw"] = len(wire.encode_snapshot(snap, "raw", sparse=False))
    t0 = time.perf_counter()
    frame = wire.encode_snapshot(snap)
    enc = time.perf_counter() - t0
    t0 = time.perf_counter()
    wire.decode_snapshot(wire.read_message(wire.stream_reader(__import__("io").BytesIO(frame))))
    dec = time.perf_counter() - t0
    raw = sizes["raw"]
    return {"bytes": sizes, "ratio_vs_dense_raw": sizes["dense_raw"] / sizes["shuffle-zlib"], "ratio_zlib": raw / sizes["zlib"], "ratio_shuffle_zlib": raw / sizes["shuffle-zlib"],
            "encode_s": enc, "decode_s": dec, "encode_MB_s": raw / enc / 1e6, "decode_MB_s": raw / dec / 1e6,
            "nonzero_voxels": int(np.count_nonzero(snap.energy)), "voxels": int(snap.energy.size)}


def stream_throughput(total_mb: float = 200.0) -> float:
    """MB/s of raw frames through an OS pipe and the frame reader (the transport alone)."""
    import subprocess
    import sys

    payload = np.random.default_rng(1).integers(0, 255, 4 << 20, dtype=np.uint8)
    frame = wire.encode("log", {"text": "x"}, {"a": payload}, codec="raw")
    n = max(1, int(total_mb * 1e6 / len(frame)))
    code = ("import sys; f=open(sys.argv[1],'rb').read(); o=sys.stdout.buffer\n"
            f"for _ in range({n}): o.write(f)\n")
    with tempfile.NamedTemporaryFile(delete=False) as fh:
        fh.write(frame)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, fh.name], stdout=subprocess.PIPE)
    read = wire.stream_reader(proc.stdout)
    got = 0
    while (msg := wire.read_message(read)) is not None:
        got += msg.frame_bytes
    proc.wait()
    return got / (time.perf_counter() - t0) / 1e6


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--primaries", type=int, default=20_000)
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--device", default="cpu")
    p.add_argument("--ssh")
    p.add_argument("--identity")
    p.add_argument("--known-hosts")
    p.add_argument("--remote-command")
    p.add_argument("--json")
    args = p.parse_args()
    case = demo_case()
    settings = SimulationSettings(primaries=args.primaries, batches=args.batches, seed=1, device=args.device)
    job = Job.create(case.phantom.volume, case.plan, case.beam_model, case.phantom.calibration, settings)
    out = {"case": "demo", "voxels": int(job.ct.hu.size), "primaries": args.primaries, "batches": args.batches}
    job_frame = wire_jobs.encode_job(job)
    out["job_frame_bytes"] = len(job_frame)
    local_s, local = timed_run(LocalRunner(job))
    out["local_s"] = local_s
    out["local_primaries_per_s"] = args.primaries / local_s
    with tempfile.TemporaryDirectory() as jobs:
        pipe = PipeRunner(job, command=local_worker_command(jobs))
        pipe_s, res = timed_run(pipe)
        out.update(pipe_s=pipe_s, pipe_overhead_s=pipe_s - local_s, pipe_same_bits=bool(np.array_equal(
            res.dose_gy, local.dose_gy)), pipe_device=pipe.device,
            snapshot_frame_bytes=pipe.snapshot_frames, pipe_primaries_per_s=args.primaries / pipe_s)
    if args.ssh:
        from braggdesk.compute.hosts import HostProfile
        from braggdesk.compute.ssh import SshRunner

        profile = HostProfile.parse(args.ssh, key_path=args.identity, known_hosts=args.known_hosts,
                                    remote_command=args.remote_command)
        ssh = SshRunner(job, profile)
        ssh_s, res = timed_run(ssh)
        out.update(ssh_s=ssh_s, ssh_overhead_s=ssh_s - local_s,
                   ssh_same_bits=bool(np.array_equal(res.dose_gy, local.dose_gy)), ssh_device=ssh.device)
    from braggdesk.engine.simulate import prepare, run_batch

    prepared = prepare(job)
    out["one_batch_snapshot"] = codec_sizes(run_batch(prepared, 0, args.primaries // args.batches))
    out["pipe_stream_MB_s"] = stream_throughput()
    out["zlib_version"] = zlib.ZLIB_VERSION
    text = json.dumps(out, indent=2, default=float)
    print(text)
    if args.json:
        open(args.json, "w").write(text)


if __name__ == "__main__":
    main()
