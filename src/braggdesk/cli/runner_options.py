"""Where ``run`` (and ``qa``) compute: the choice of runner from the command line.

Every runner has the interface of :class:`braggdesk.compute.runner.Runner`, so
the commands drive any of them the same way.  The options (``--on TARGET``, and the
older ``--remote``, ``--pipe``, ``--cluster``... that stand for a target) become one
target of the syntax the GUI and the Python API share, built by workflow/targets.py.

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

    p.add_argument("--on", metavar="TARGET",
                   help="where to run, in the syntax the GUI and the Python API share: local, local:N (N threads), "
                        "process, ssh://[user@]host[:port], dask://host:8786, dask://tls://host:8786, "
                        "dask://local:N, dask-ssh://host,host or a saved host or cluster profile's name")
    add_remote_options(p)
    add_cluster_options(p)


_CLUSTER_OPTIONS = ("cluster", "cluster_profile", "local_cluster", "ssh_cluster")
_TLS_OPTIONS = ("tls_ca", "tls_cert", "tls_key")


def runner_target(args: argparse.Namespace) -> str:
    """The one target (workflow/targets.py) that ``--on``, ``--remote``/``--pipe`` or a cluster option names."""
    from .remote import wants_remote

    named = [bool(getattr(args, "on", None)), wants_remote(args),
             any(getattr(args, name, None) not in (None, False) for name in _CLUSTER_OPTIONS)]
    if sum(named) > 1:
        raise BraggdeskError("choose one place to run: --on, --remote/--pipe or a cluster option, not several")
    if getattr(args, "on", None):
        return args.on
    if getattr(args, "pipe", False):
        if getattr(args, "remote", None):
            raise BraggdeskError("give --remote or --pipe, not both")
        return "process"
    if getattr(args, "remote", None):
        return f"ssh://{args.remote}"
    if getattr(args, "cluster", None):
        return f"dask://{args.cluster}"
    if getattr(args, "cluster_profile", None):
        return args.cluster_profile
    if getattr(args, "local_cluster", None) is not None:
        return f"dask://local:{args.local_cluster}"
    if getattr(args, "ssh_cluster", None):
        return f"dask-ssh://{args.ssh_cluster}"
    return "local"


def runner_options(args: argparse.Namespace):
    """What the target's text does not say, from the remote and cluster options."""
    from ..workflow.targets import RunnerOptions

    tls_given = any(getattr(args, name, None) for name in _TLS_OPTIONS)
    if tls_given and not (getattr(args, "cluster", None) or str(getattr(args, "on", "") or "").startswith("dask://")):
        raise BraggdeskError("--tls-ca, --tls-cert and --tls-key are for --cluster tls://host:port"
                             + ("; a cluster profile names its own files" if getattr(args, "cluster_profile", None)
                                else ""))
    return RunnerOptions(key_path=getattr(args, "identity", None), known_hosts=getattr(args, "known_hosts", None),
                         remote_command=getattr(args, "remote_command", None), attach=getattr(args, "attach", None),
                         reconnects=getattr(args, "reconnects", 3), tls_ca=getattr(args, "tls_ca", None),
                         tls_cert=getattr(args, "tls_cert", None), tls_key=getattr(args, "tls_key", None),
                         insecure=bool(getattr(args, "insecure", False)),
                         cluster_python=getattr(args, "cluster_python", None))


def make_runner(job: Job, args: argparse.Namespace) -> Runner:
    """The runner the options name, built by the code the GUI and the Python API use (workflow/targets.py)."""
    from ..workflow.targets import RunnerTarget, make_runner as make

    target = RunnerTarget.parse(runner_target(args))
    options = runner_options(args)
    if target.kind != "local":  # checked against what would leave this machine (never sent)
        options.identity = patient_identity(args)
    return make(job, target, options)


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


def cluster_spec(args: argparse.Namespace):
    """The ClusterSpec the cluster options name (its link checked now, one line if bad), or None."""
    from ..workflow import targets

    target = targets.RunnerTarget.parse(runner_target(args))
    if target.kind not in ("dask", "dask-ssh", "profile"):
        return None
    spec = targets.cluster_spec(target, runner_options(args))
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
