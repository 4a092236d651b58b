"""Where a job runs, from one line of text: the target syntax the GUI, the command line and scripts share.

Why one syntax: ``braggdesk run --on ssh://gpu1``, the run panel's runner box and
``bd.compute(job, on="dask://local:4")`` must reach the same place for the same words,
through the same code (:func:`make_runner`).  The forms:

``local``                  the engine in this process, every core (minus ``keep_free_cores``)
``local:N``                the engine in this process on N threads
``process``                ``braggdesk worker`` as a child process over a pipe (the remote path, no SSH)
``ssh://[user@]host[:port]``  a ``braggdesk worker`` on an SSH node; the host may be a saved host profile's name
                           or a ``~/.ssh/config`` alias (compute/host_resolution.py)
``dask://host:port``       an existing Dask scheduler over plain TCP (this machine only unless ``insecure``)
``dask://tls://host:port`` an existing Dask scheduler over TLS (certificate files in :class:`RunnerOptions`)
``dask://local:N``         a Dask LocalCluster of N single-thread processes that braggdesk starts
``dask-ssh://h1,h2,...``   a Dask SSHCluster braggdesk starts over those hosts
``NAME``                   a saved cluster profile (clusters.ini), else a saved SSH host profile
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..compute.runner import Runner
from ..errors import BraggdeskError
from ..model import Job

SYNTAX = ("local, local:N, process, ssh://[user@]host[:port], dask://host:port, dask://tls://host:port, "
          "dask://local:N, dask-ssh://host,host,... or the name of a saved host or cluster profile")


@dataclass(frozen=True)
class RunnerTarget:
    """A parsed target: its kind and the rest of the text (an address, a profile name, a thread count)."""

    kind: str
    address: str = ""
    threads: int | None = None  # local:N

    @classmethod
    def parse(cls, text: str | None) -> "RunnerTarget":
        """The target ``text`` names (``None`` or empty: ``local``); BraggdeskError for a malformed one."""
        text = (text or "local").strip()
        scheme, sep, rest = text.partition("://")
        if sep:
            scheme = scheme.lower()
            if scheme not in ("ssh", "dask", "dask-ssh"):
                raise BraggdeskError(f"runner target {text!r}: unknown scheme {scheme!r}; expected {SYNTAX}")
            if not rest.strip():
                raise BraggdeskError(f"runner target {text!r}: nothing after {scheme}://; expected {SYNTAX}")
            return cls(scheme, rest.strip())
        head, colon, tail = text.partition(":")
        if head.lower() == "local":
            if not colon:
                return cls("local")
            return cls("local", threads=_positive(tail, text, "threads"))
        if text.lower() in ("process", "pipe"):
            return cls("process")
        return cls("profile", text)

    def __str__(self) -> str:
        if self.kind == "local":
            return "local" if self.threads is None else f"local:{self.threads}"
        if self.kind in ("process", "profile"):
            return self.address or self.kind
        return f"{self.kind}://{self.address}"


@dataclass
class RunnerOptions:
    """What a target's text does not say: key and known_hosts files, TLS files, re-attach, the saved profiles.

    ``hosts``: the saved SSH host profiles (None: the GUI's settings file, read without Qt);
    ``clusters_path``: the cluster profiles file (None: ~/.config/braggdesk/clusters.ini);
    ``identity``: the patient's identity, never sent, checked against what would leave the machine.
    """

    keep_free_cores: int = 0  # local: cores left to the caller (the GUI keeps one for itself)
    key_path: Path | None = None
    known_hosts: Path | None = None
    remote_command: str | None = None
    attach: str | None = None
    reconnects: int = 3
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure: bool = False
    cluster_python: str | None = None
    hosts: list | None = None
    clusters_path: Path | None = None
    identity: object | None = None


def make_runner(job: Job, target: str | RunnerTarget | None = None, options: RunnerOptions | None = None) -> Runner:
    """The runner for ``job`` at ``target`` (see the module doc); a cluster's link is checked here, before any
    work is sent.  The GUI, ``braggdesk run`` and the Python API all build their runners through this."""
    target = target if isinstance(target, RunnerTarget) else RunnerTarget.parse(target)
    options = options or RunnerOptions()
    if target.kind == "profile":
        target = _resolve_profile(target.address, options)
    if target.kind == "local":
        return _local(job, target, options)
    remote = {"attach": options.attach, "reconnects": options.reconnects, "identity": options.identity}
    if target.kind == "process":
        from ..compute.remote import PipeRunner

        return PipeRunner(job, command=options.remote_command, **remote)
    if target.kind == "ssh":
        from ..compute.host_resolution import resolve_host
        from ..compute.ssh import SshRunner

        profile = resolve_host(target.address, key_path=options.key_path, known_hosts=options.known_hosts,
                               remote_command=options.remote_command, saved=options.hosts)
        return SshRunner(job, profile, **remote)
    from ..compute.dask_runner import DaskRunner

    spec = cluster_spec(target, options)
    spec.link()  # bad certificate files or an unencrypted link: refused now, before any work is sent
    return DaskRunner(job, spec, identity=options.identity)  # type: ignore[arg-type]


def cluster_spec(target: RunnerTarget, options: RunnerOptions):
    """The Dask ClusterSpec of a ``dask://``, ``dask-ssh://`` or cluster-profile target (link not yet checked)."""
    from ..compute.dask_cluster import ClusterSpec
    from ..compute.tls import TlsFiles

    tls_given = any((options.tls_ca, options.tls_cert, options.tls_key))
    if target.kind == "dask-ssh":
        return ClusterSpec.ssh(target.address, remote_python=options.cluster_python)
    if target.kind == "profile":
        from ..compute.cluster_profiles import find_cluster_profile

        return find_cluster_profile(target.address, options.clusters_path).spec(insecure=options.insecure)
    address = target.address
    head, colon, tail = address.partition(":")
    if head.lower() == "local" and "://" not in address:
        workers = _positive(tail, f"dask://{address}", "workers") if colon and tail.strip() else \
            max(1, (os.cpu_count() or 1) - 1)
        return ClusterSpec(local_workers=workers)
    if tls_given and not address.startswith("tls://"):
        raise BraggdeskError("TLS certificate files are for a dask://tls://host:port scheduler")
    tls = TlsFiles.of(options.tls_ca, options.tls_cert, options.tls_key) if tls_given else None
    return ClusterSpec(address=address if "://" in address else f"tcp://{address}", tls=tls,
                       insecure=options.insecure)


def _local(job: Job, target: RunnerTarget, options: RunnerOptions) -> Runner:
    from ..compute.local import LocalRunner
    from ..engine.device import available_cores, select_device

    threads = target.threads or job.settings.threads
    if threads is None and options.keep_free_cores:
        threads = max(1, available_cores() - options.keep_free_cores)
    return LocalRunner(job, device=select_device(job.settings.device, threads))


def where_it_runs(target: str | RunnerTarget | None, options: RunnerOptions | None = None) -> str:
    """"local", "node" (a worker at the end of a link: SSH or a local process) or "cluster" (Dask), with a
    saved profile's name resolved: for work that is not a dose and picks its own way by it (a Dij)."""
    target = target if isinstance(target, RunnerTarget) else RunnerTarget.parse(target)
    if target.kind == "profile":
        target = _resolve_profile(target.address, options or RunnerOptions())
    if target.kind == "local":
        return "local"
    return "node" if target.kind in ("ssh", "process") else "cluster"


def _resolve_profile(name: str, options: RunnerOptions) -> RunnerTarget:
    """A bare name: a saved cluster profile, else a saved SSH host profile; BraggdeskError listing the syntax."""
    from ..compute.cluster_profiles import find_cluster_profile, load_cluster_profiles
    from ..compute.host_resolution import saved_host_profiles

    if any(p.name == name for p in load_cluster_profiles(options.clusters_path)):
        return RunnerTarget("profile", name)  # cluster_spec resolves it
    hosts = options.hosts if options.hosts is not None else saved_host_profiles()
    if any(p.name == name for p in hosts):
        return RunnerTarget("ssh", name)
    try:
        find_cluster_profile(name, options.clusters_path)
    except BraggdeskError as exc:  # names the profiles file and what it holds
        raise BraggdeskError(f"runner target {name!r} is neither a saved host profile nor a saved cluster: {exc}; "
                             f"expected {SYNTAX}") from None
    raise AssertionError("unreachable: the profile was listed a moment ago")


def _positive(text: str, whole: str, what: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise BraggdeskError(f"runner target {whole!r}: {what} must be a positive whole number, got {text!r}")
    return value
