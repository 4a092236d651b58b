"""Where ``run`` (and ``qa``) compute: the choice of runner from the command line.

Every runner has the interface of :class:`braggdesk.compute.runner.Runner`, so
the commands drive any of them the same way.  A new runner adds its options in
``add_runner_options`` and its branch in ``make_runner``.

A runner that sends the job off this machine (SSH node, Dask cluster) also gets the
patient's identity as the CT folder states it, never to send it but to make sure the
job it sends holds none of it (:mod:`braggdesk.compute.outbound`).  A cluster's link is
checked (certificate files, plain TCP refused off this machine) when the runner is made,
before any work is sent.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..compute.runner import Runner
from ..errors import BraggdeskError, InputError
from ..model import Job
from .options import count


def add_runner_options(p: argparse.ArgumentParser) -> None:
    """Options that choose where the job runs (default: this machine)."""
    from .remote import add_remote_options

    add_remote_options(p)
    add_cluster_options(p)


_CLUSTER_OPTIONS = ("cluster", "cluster_profile", "local_cluster", "ssh_cluster")
_TLS_OPTIONS = ("tls_ca", "tls_cert", "tls_key")


def make_runner(job: Job, args: argparse.Namespace) -> Runner:
    from .remote import make_remote_runner, wants_remote

    remote = wants_remote(args)
    cluster = any(getattr(args, name, None) not in (None, False) for name in _CLUSTER_OPTIONS)
    if remote and cluster:
        raise BraggdeskError("choose one place to run: --remote/--pipe or a cluster option, not both")
    if remote:
        return make_remote_runner(job, args, identity=patient_identity(args))
    runner = cluster_runner(job, args)
    if runner is not None:
        return runner
    from ..compute.local import LocalRunner

    return LocalRunner(job)


def add_cluster_options(p: argparse.ArgumentParser) -> None:
    """``--cluster ADDRESS | --cluster-profile NAME | --local-cluster N | --ssh-cluster HOST,HOST,...``: the job's
    batches as Dask tasks; ``--tls-ca/--tls-cert/--tls-key`` for a tls:// scheduler, ``--insecure`` for plain TCP."""
    g = p.add_argument_group("Dask cluster", "spread the batches over a Dask cluster (needs braggdesk[cluster])")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--cluster", metavar="ADDRESS",
                       help="an existing Dask scheduler, e.g. tls://10.0.0.5:8786 with --tls-ca, --tls-cert and "
                            "--tls-key (plain tcp:// only on this machine, unless --insecure)")
    where.add_argument("--cluster-profile", metavar="NAME",
                       help="a scheduler named in ~/.config/braggdesk/clusters.ini (address and TLS files; the GUI's "
                            "Clusters... edits the same file)")
    where.add_argument("--local-cluster", metavar="N", type=count,
                       help="start a Dask LocalCluster of N single-thread worker processes on this machine")
    where.add_argument("--ssh-cluster", metavar="HOST,HOST,...",
                       help="start a Dask SSHCluster over [user@]host[:port] names: the scheduler on the first host, "
                            "a worker on each, TLS between them with throw-away certificates; every host needs "
                            "key-based SSH and braggdesk installed")
    g.add_argument("--cluster-python", metavar="PATH",
                   help="python on the --ssh-cluster hosts (default: the same path as this one)")
    g.add_argument("--tls-ca", metavar="PEM", type=Path, help="CA certificate that signed the cluster's certificates")
    g.add_argument("--tls-cert", metavar="PEM", type=Path, help="your certificate for the tls:// scheduler")
    g.add_argument("--tls-key", metavar="PEM", type=Path,
                   help="the private key of --tls-cert (no passphrase, readable by you only)")
    g.add_argument("--insecure", action="store_true",
                   help="allow a plain tcp:// scheduler on another machine: the CT, plan and doses cross the network "
                        "unencrypted (the summary and report say so)")


def cluster_runner(job: Job, args: argparse.Namespace) -> Runner | None:
    """A DaskRunner when a cluster option was given, else None; its link is checked here (one line if bad)."""
    spec = cluster_spec(args)
    if spec is None:
        return None
    from ..compute.dask_runner import DaskRunner

    return DaskRunner(job, spec, identity=patient_identity(args))


def cluster_spec(args: argparse.Namespace):
    """The ClusterSpec the cluster options name (its link checked now, one line if bad), or None."""
    from ..compute.dask_cluster import ClusterSpec
    from ..compute.tls import TlsFiles

    tls_given = any(getattr(args, name, None) for name in _TLS_OPTIONS)
    if tls_given and not getattr(args, "cluster", None):
        raise BraggdeskError("--tls-ca, --tls-cert and --tls-key are for --cluster tls://host:port"
                             + ("; a cluster profile names its own files" if getattr(args, "cluster_profile", None)
                                else ""))
    if getattr(args, "cluster", None):
        tls = TlsFiles.of(args.tls_ca, args.tls_cert, args.tls_key) if tls_given else None
        spec = ClusterSpec(address=args.cluster, tls=tls, insecure=args.insecure)
    elif getattr(args, "cluster_profile", None):
        from ..compute.cluster_profiles import find_cluster_profile

        profile = find_cluster_profile(args.cluster_profile)
        spec = profile.spec(insecure=args.insecure)
    elif getattr(args, "local_cluster", None) is not None:
        spec = ClusterSpec(local_workers=args.local_cluster)
    elif getattr(args, "ssh_cluster", None):
        spec = ClusterSpec.ssh(args.ssh_cluster, remote_python=args.cluster_python)
    else:
        return None
    spec.link()  # bad certificate files or an unencrypted link: refused now, before any work is sent
    return spec


def patient_identity(args: argparse.Namespace):
    """The patient's identity as the ``--ct`` folder states it (to check the outbound job against), or None."""
    from ..io.deidentify import read_patient_identity

    ct = getattr(args, "ct", None)
    if ct is None:
        return None
    try:
        return read_patient_identity(ct)
    except InputError:  # no DICOM file with a name or ID (a phantom): the job's own UIDs and label are still checked
        return None
