"""``braggdesk worker``: the node side of a remote run (a job on stdin, framed snapshots on stdout)."""

from __future__ import annotations

from pathlib import Path

from .options import non_negative_float


def register(sub) -> None:
    w = sub.add_parser("worker", help="the remote side: a job on stdin, framed snapshots on stdout",
                       description="Started by a workstation over SSH (or a pipe): reads a job in the braggdesk "
                                   "wire format from standard input, runs it on this machine's best device and "
                                   "writes framed messages to standard output.  Jobs live on in the jobs folder "
                                   "when the connection drops; a later worker re-attaches to them.")
    w.add_argument("--jobs-dir", type=Path,
                   help="where jobs keep their partial sums (default: $BRAGGDESK_JOBS_DIR or ~/.braggdesk/jobs)")
    w.add_argument("--prune", type=non_negative_float, metavar="DAYS",
                   help="instead of serving a job: remove job folders untouched for more than DAYS days (a job "
                        "whose engine still runs is kept) and exit; finished jobs are removed anyway once the "
                        "client has the result")
    w.set_defaults(func=run_worker)


def run_worker(args) -> int:
    if args.prune is not None:
        return run_prune(args.jobs_dir, args.prune)
    from ..compute.node_server import serve_stdio

    return serve_stdio(args.jobs_dir)


def run_prune(jobs_dir: Path | None, days: float) -> int:
    from ..compute.job_cleanup import prune_jobs
    from ..compute.jobfolder import default_jobs_dir

    folder = Path(jobs_dir) if jobs_dir else default_jobs_dir()
    pruned = prune_jobs(folder, days)
    print(f"{folder}: removed {len(pruned.removed)} job folder{'s' if len(pruned.removed) != 1 else ''} older than "
          f"{days:g} days ({pruned.freed_bytes / 1e6:.1f} MB)")
    for job_id in pruned.kept_running:
        print(f"  kept {job_id}: its engine is still running")
    return 0
