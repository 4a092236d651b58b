"""Where ``run`` (and ``qa``) compute: the choice of runner from the command line.

Every runner has the interface of :class:`braggdesk.compute.runner.Runner`, so
the commands drive any of them the same way.  A new runner adds its options in
``add_runner_options`` and its branch in ``make_runner``.
"""

from __future__ import annotations

import argparse

from ..compute.runner import Runner
from ..errors import BraggdeskError
from ..model import Job


def add_runner_options(p: argparse.ArgumentParser) -> None:
    """Options that choose where the job runs (default: this machine)."""
    from .remote import add_remote_options

    add_remote_options(p)
    add_cluster_options(p)


def make_runner(job: Job, args: argparse.Namespace) -> Runner:
    from .remote import make_remote_runner, wants_remote

    remote = wants_remote(args)
    cluster = any(getattr(args, name, None) not in (None, False) for name in ("cluster", "local_cluster", "ssh_cluster"))
    if remote and cluster:
        raise BraggdeskError("choose one place to run: --remote/--pipe or a cluster option, not both")
    if remote:
        return make_remote_runner(job, args)
    runner = cluster_runner(job, args)
    if runner is not None:
        return runner
    from ..compute.local import LocalRunner

    return LocalRunner(job)


def add_cluster_options(p: argparse.ArgumentParser) -> None:
    """``--cluster ADDRESS | --local-cluster N | --ssh-cluster HOST,HOST,...``: the job's batches as Dask tasks."""
    g = p.add_argument_group("Dask cluster", "spread the batches over a Dask cluster (needs braggdesk[cluster])")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--cluster", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://10.0.0.5:8786")
    where.add_argument("--local-cluster", metavar="N", type=int,
                       help="start a Dask LocalCluster of N single-thread worker processes on this machine")
    where.add_argument("--ssh-cluster", metavar="HOST,HOST,...",
                       help="start a Dask SSHCluster over [user@]host[:port] names: the scheduler on the first host, "
                            "a worker on each; every host needs key-based SSH and braggdesk installed")
    g.add_argument("--cluster-python", metavar="PATH",
                   help="python on the --ssh-cluster hosts (default: the same path as this one)")


def cluster_runner(job: Job, args: argparse.Namespace) -> Runner | None:
    """A DaskRunner when a cluster option was given, else None."""
    from ..compute.dask_cluster import ClusterSpec

    if getattr(args, "cluster", None):
        spec = ClusterSpec(address=args.cluster)
    elif getattr(args, "local_cluster", None) is not None:
        spec = ClusterSpec(local_workers=args.local_cluster)
    elif getattr(args, "ssh_cluster", None):
        spec = ClusterSpec.ssh(args.ssh_cluster, remote_python=args.cluster_python)
    else:
        return None
    from ..compute.dask_runner import DaskRunner

    return DaskRunner(job, spec)
