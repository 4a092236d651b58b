"""``braggdesk worker``: the node side of a remote run (a job on stdin, framed snapshots on stdout)."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    w = sub.add_parser("worker", help="the remote side: a job on stdin, framed snapshots on stdout",
                       description="Started by a workstation over SSH (or a pipe): reads a job in the braggdesk "
                                   "wire format from standard input, runs it on this machine's best device and "
                                   "writes framed messages to standard output.  Jobs live on in the jobs folder "
                                   "when the connection drops; a later worker re-attaches to them.")
    w.add_argument("--jobs-dir", type=Path,
                   help="where jobs keep their partial sums (default: $BRAGGDESK_JOBS_DIR or ~/.braggdesk/jobs)")
    w.set_defaults(func=run_worker)


def run_worker(args) -> int:
    from ..compute.worker import serve_stdio

    return serve_stdio(args.jobs_dir)
