"""Getting a Dask cluster for a job: an existing scheduler, a LocalCluster, or an SSHCluster.

Which one is a :class:`ClusterSpec` (the CLI's ``--cluster``, ``--local-cluster``,
``--ssh-cluster``); :func:`open_cluster` connects or starts it and returns a
:class:`ClusterHandle` that closes what braggdesk started, and only that.

Right after the start, :func:`check_workers` asks every worker whether it can
import braggdesk (the same version as here) and which device it would use, so a
host without braggdesk is named in one clear message instead of failing later
with an unpickling traceback from deep inside Dask.

What the links carry is patient data, so (see :mod:`.tls`): an existing scheduler is
reached over ``tls://`` with the CA, certificate and key checked first, or over plain
``tcp://`` on this machine only unless the spec says ``insecure``; an SSHCluster
braggdesk starts speaks TLS between scheduler, workers and client with throw-away
certificates placed on the hosts and removed when it closes (:mod:`.dask_ssh_tls`); the
LocalCluster listens on loopback only and stays plain TCP.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

from .._version import __version__
from ..errors import DeviceError
from .hosts import split_target
from .tls import SchedulerLink, TlsFiles, check_link, client_security


class ClusterError(DeviceError):
    """The cluster cannot be reached or started, or a worker cannot run braggdesk."""


INSTALL_HINT = "install it there with: pip install 'braggdesk[cluster]' (the same version as here)"


@dataclass(frozen=True)
class SshHost:
    host: str
    username: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> "SshHost":
        """``[user@]host[:port]`` (an IPv6 address in brackets), as a remote node's target is read."""
        try:
            user, host, port = split_target(text)
        except ValueError as exc:
            raise ClusterError(f"SSH host {text!r}: {exc}") from None
        return cls(host, user, port)

    def __str__(self) -> str:
        return (f"{self.username}@" if self.username else "") + self.host + (f":{self.port}" if self.port else "")


@dataclass(frozen=True)
class ClusterSpec:
    """Where the Dask cluster comes from: exactly one of address, local_workers, ssh_hosts."""

    address: str | None = None  # an existing scheduler, e.g. tls://10.0.0.5:8786
    local_workers: int | None = None  # a LocalCluster of this many single-thread processes
    ssh_hosts: tuple[SshHost, ...] = ()  # scheduler on the first host, one worker process on every host
    remote_python: str | None = None  # python on the SSH hosts (default: this interpreter's path)
    ssh_connect_options: dict = field(default_factory=dict)  # asyncssh options: known_hosts, client_keys ...
    ssh_threads_per_worker: int | None = None  # default: one thread per core of the host
    start_timeout_s: float = 60.0
    tls: TlsFiles | None = None  # CA, certificate and key for a tls:// address
    insecure: bool = False  # allow plain tcp:// to another machine (the run says so)
    profile: str = ""  # the cluster profile it came from, for messages

    def __post_init__(self) -> None:
        given = sum([self.address is not None, self.local_workers is not None, bool(self.ssh_hosts)])
        if given != 1:
            raise ClusterError("give exactly one of a scheduler address, a number of local workers or SSH hosts")
        if self.local_workers is not None and self.local_workers < 1:
            raise ClusterError(f"a local cluster needs at least 1 worker, got {self.local_workers}")
        if self.tls is not None and self.address is None:
            raise ClusterError("TLS certificate files are for an existing tls:// scheduler; braggdesk makes its own "
                               "throw-away certificates for the clusters it starts")

    def link(self) -> SchedulerLink | None:
        """How the scheduler of an existing cluster is reached, once its address and certificates are checked
        (InsecureAddress or TlsError otherwise); None for a cluster braggdesk starts."""
        if self.address is None:
            return None
        return check_link(self.address, self.tls, self.insecure)

    @classmethod
    def ssh(cls, hosts: str | list[str], **kwargs) -> "ClusterSpec":
        names = hosts.split(",") if isinstance(hosts, str) else list(hosts)
        return cls(ssh_hosts=tuple(SshHost.parse(h) for h in names if h.strip()), **kwargs)

    def describe(self) -> str:
        if self.address is not None:
            return f"Dask scheduler {self.address}" + (f" (profile {self.profile})" if self.profile else "")
        if self.local_workers is not None:
            return f"Dask LocalCluster of {self.local_workers} worker process{'es' if self.local_workers > 1 else ''}"
        return f"Dask SSHCluster on {', '.join(str(h) for h in self.ssh_hosts)}"


class ClusterHandle:
    """A connected Dask client, plus the cluster braggdesk started (closed with the handle), and what to clean up
    after it (``on_close``: callables returning problems in words, e.g. certificate folders left on a host)."""

    def __init__(self, client, cluster=None, on_close: list[Callable[[], list[str]]] | None = None):
        self.client = client
        self.cluster = cluster
        self.on_close = list(on_close or [])
        self.problems: list[str] = []

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            try:
                if self.cluster is not None:
                    self.cluster.close()
            finally:
                calls, self.on_close = self.on_close, []
                for call in calls:
                    self.problems += call()

    def __enter__(self) -> "ClusterHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _distributed():
    try:
        import distributed  # noqa: PLC0415
    except ImportError:
        raise ClusterError("running on a Dask cluster needs Dask: pip install 'braggdesk[cluster]'") from None
    return distributed


def open_cluster(spec: ClusterSpec) -> ClusterHandle:
    """Connect to, or start, the cluster ``spec`` names; at least one worker is up on return."""
    distributed = _distributed()
    if spec.address is not None:
        link = spec.link()  # refuses an unencrypted link to another machine, checks the certificate files
        security = client_security(spec.tls) if spec.tls is not None else None
        try:
            client = distributed.Client(link.address, timeout=spec.start_timeout_s, security=security)
        except (OSError, TimeoutError, TypeError) as exc:
            raise ClusterError(_connect_problem(link, spec.tls, exc)) from None
        handle = ClusterHandle(client)
    elif spec.local_workers is not None:
        cluster = distributed.LocalCluster(n_workers=spec.local_workers, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=None)
        handle = ClusterHandle(distributed.Client(cluster), cluster)
    else:
        handle = _start_ssh_cluster(distributed, spec)
    try:
        handle.client.wait_for_workers(1, timeout=spec.start_timeout_s)
    except TimeoutError:
        handle.close()
        raise ClusterError(f"{spec.describe()}: no worker joined within {spec.start_timeout_s:g} s") from None
    return handle


def _connect_problem(link: SchedulerLink, tls: TlsFiles | None, exc: BaseException) -> str:
    """Why the scheduler could not be reached, in one sentence: a refused certificate, a TLS/TCP mix-up, the network."""
    text = str(exc) or type(exc).__name__
    if link.encrypted and ("TLS" in text or "SSL" in text or "certificate" in text.lower()):
        return (f"the Dask scheduler at {link.address} refused the TLS connection ({text}): it did not accept the "
                f"certificate {tls.cert} or its own certificate was not issued by the CA in {tls.ca}; ask the "
                f"cluster's administrator for a certificate signed by the cluster's CA")
    if link.encrypted and isinstance(exc, TimeoutError):
        return (f"no TLS answer from the Dask scheduler at {link.address} within the timeout ({text}); is it a "
                f"plain tcp:// scheduler, or unreachable?")
    hint = "; is it a TLS scheduler? then use tls:// with its CA and your certificate" if not link.encrypted else ""
    return f"cannot reach the Dask scheduler at {link.address}: {text}{hint}"


def _ssh_options(spec: ClusterSpec) -> list[tuple[str, dict]]:
    """(host, asyncssh options) for the scheduler (the first host) and then one worker per host."""
    hosts = list(spec.ssh_hosts)
    out = []
    for h in [hosts[0], *hosts]:
        opts = {"connect_timeout": spec.start_timeout_s, **spec.ssh_connect_options}
        if h.username:
            opts["username"] = h.username
        if h.port:
            opts["port"] = h.port
        out.append((h.host, opts))
    return out


def _start_ssh_cluster(distributed, spec: ClusterSpec) -> ClusterHandle:
    import dask  # noqa: PLC0415

    from .dask_ssh_tls import place_tls  # noqa: PLC0415

    hosts = list(spec.ssh_hosts)
    targets = _ssh_options(spec)
    worker_options = {"dashboard": False}
    if spec.ssh_threads_per_worker:
        worker_options["nthreads"] = spec.ssh_threads_per_worker
    python = spec.remote_python or None
    try:
        tls = place_tls(targets)
    except Exception as exc:  # asyncssh and OSError: the same SSH problems SSHCluster itself would meet
        raise ClusterError(_ssh_start_problem(exc, hosts, python)) from None
    try:
        # The hosts' processes inherit this configuration (paths to the certificate files, encryption required).
        with dask.config.set(tls.dask_config()):
            cluster = distributed.SSHCluster([h for h, _ in targets], connect_options=[o for _, o in targets],
                                             worker_options=worker_options,
                                             # listen on the name given (workers then pick the interface
                                             # that reaches it), not on whatever the host's default is
                                             scheduler_options={"host": hosts[0].host, "port": 0,
                                                                "dashboard": False, "protocol": "tls"},
                                             remote_python=python, security=tls.client_security())
    except Exception as exc:  # asyncssh, OSError and Dask's bare Exception("Worker failed to start")
        tls.remove()
        raise ClusterError(_ssh_start_problem(exc, hosts, python)) from None
    try:
        client = distributed.Client(cluster, security=tls.client_security())
    except BaseException:
        try:
            cluster.close()
        finally:
            tls.remove()
        raise
    return ClusterHandle(client, cluster, on_close=[tls.remove])


def _ssh_start_problem(exc: BaseException, hosts: list[SshHost], python: str | None) -> str:
    """One sentence: could SSH not connect (address, key, host key), or did Dask not start there?"""
    chain, e = [], exc
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    ssh_side = [e for e in chain if isinstance(e, OSError) or type(e).__module__.startswith("asyncssh")]
    where = ", ".join(str(h) for h in hosts)
    if ssh_side:
        root = ssh_side[0]
        return (f"could not start the Dask SSHCluster on {where}: SSH to the host failed ({type(root).__name__}: "
                f"{root}); the host must be reachable, accept your key and be in your known_hosts file")
    return (f"could not start the Dask SSHCluster on {where}: {exc or type(exc).__name__}; every host needs Python "
            f"with Dask and braggdesk at {python or 'the same path as here'} ({INSTALL_HINT})")


def worker_hosts(client) -> dict[str, str]:
    """Worker address -> host name as the scheduler sees it."""
    info = client.scheduler_info(n_workers=-1)["workers"]
    return {addr: (w.get("host") or urlsplit(addr).hostname or addr) for addr, w in info.items()}


def check_workers(client, device: str = "auto") -> dict[str, dict]:
    """Every worker can import braggdesk (this version) and use ``device``: address -> probe, or ClusterError."""
    hosts = worker_hosts(client)
    # A builtin as the task: it unpickles on a worker that lacks braggdesk, and then fails there.
    imported = client.run(builtins.exec, "import braggdesk", on_error="return")
    missing = sorted({hosts.get(a, a) for a, r in imported.items() if isinstance(r, BaseException)})
    if missing:
        first = next(r for r in imported.values() if isinstance(r, BaseException))
        raise ClusterError(f"braggdesk is not installed on the Dask worker host{'s' if len(missing) > 1 else ''} "
                           f"{', '.join(missing)} ({type(first).__name__}: {first}); {INSTALL_HINT}")
    from .dask_tasks import probe  # noqa: PLC0415

    probes = client.run(probe, device, on_error="return")
    for addr, p in sorted(probes.items()):
        host = hosts.get(addr, addr)
        if isinstance(p, BaseException):
            raise ClusterError(f"the Dask worker on {host} ({addr}) failed its check: {p}")
        if p["version"] != __version__:
            raise ClusterError(f"the Dask worker on {host} runs braggdesk {p['version']}, this is {__version__}; "
                               f"the same version is needed everywhere for the same results")
        if not p["device"]:
            raise ClusterError(f"the Dask worker on {host} cannot use device {device!r}: {p['note']}")
    return probes
