"""The runner choices the run panel offers: a small registry, so SSH and Dask plug in here.

A choice has a label, an optional target the panel asks for (a saved host profile,
a scheduler address), suggestions for it, an optional editor (the host profiles
dialog) and ``make(job, target, settings) -> Runner``, where ``settings`` is the
window's QSettings (where host profiles are kept).  The panel and the window only
ever see :class:`braggdesk.compute.runner.Runner`, so a remote or cluster stream
updates the views exactly as a local run does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from ..compute.runner import Runner
from ..engine.device import gpu_status
from ..errors import BraggdeskError
from ..model import Job


@dataclass(frozen=True)
class RunnerChoice:
    key: str
    label: str
    make: Callable[..., Runner]  # (job, target, settings) -> Runner
    target_label: str = ""  # e.g. "Host"; empty: no target needed
    suggestions: Callable[..., list[str]] | None = None  # (settings) -> targets to offer
    edit: Callable[..., None] | None = None  # (parent widget, settings): an editor for the targets
    edit_label: str = "Hosts..."  # the editor's button
    placeholder: str = ""
    #: build the runner in the run's worker thread (``make`` is then called with settings None): for a
    #: ``make`` that is slow, like choosing a device (importing numba-cuda, asking the driver for a GPU)
    build_in_worker: bool = False


def _local(job: Job, target: str, settings=None) -> Runner:
    """The engine in this process, on one thread fewer than the cores: one core stays with the GUI."""
    from ..compute.local import LocalRunner
    from ..engine.device import available_cores, select_device

    threads = job.settings.threads or max(1, available_cores() - 1)
    return LocalRunner(job, device=select_device(job.settings.device, threads))


def _process(job: Job, target: str, settings=None) -> Runner:
    """``braggdesk worker`` as a child process over a pipe: the remote path, and no GIL shared with the GUI."""
    from ..compute.remote import PipeRunner

    return PipeRunner(job)


def _ssh(job: Job, target: str, settings=None) -> Runner:
    from ..compute.ssh import SshRunner
    from .host_profiles import find_profile

    return SshRunner(job, find_profile(settings, target))


def _ssh_names(settings=None) -> list[str]:
    from .host_profiles import load_profiles

    return [p.name for p in load_profiles(settings)]


def _ssh_edit(parent, settings=None) -> None:
    from .host_profiles import HostProfilesDialog

    HostProfilesDialog(settings, parent).exec()


def cluster_spec(target: str, settings=None):
    """A saved cluster profile's name, 'local:N' (a LocalCluster of N processes) or a scheduler address
    ('tls://host:8786' needs a profile for its certificates; 'tcp://host:8786' or 'host:8786' on this machine)."""
    from ..compute.dask_cluster import ClusterSpec

    text = target.strip()
    if not text:
        raise BraggdeskError("Dask cluster: choose a saved cluster (Clusters...), or give local:N for N local workers")
    if settings is not None:
        from ..compute.cluster_profiles import load_cluster_profiles
        from .cluster_profiles import cluster_profiles_path

        for profile in load_cluster_profiles(cluster_profiles_path(settings)):
            if profile.name == text:
                return profile.spec()
    if text.lower().startswith("local"):
        _, _, n = text.partition(":")
        try:
            workers = int(n) if n.strip() else max(1, (os.cpu_count() or 1) - 1)
        except ValueError:
            raise BraggdeskError(f"Dask cluster {text!r}: expected local:N with N a number of workers") from None
        return ClusterSpec(local_workers=workers)
    return ClusterSpec(address=text if "://" in text else f"tcp://{text}")


def _dask(job: Job, target: str, settings=None) -> Runner:
    from ..compute.dask_runner import DaskRunner

    spec = cluster_spec(target, settings)
    spec.link()  # certificates checked, plain TCP off this machine refused: before the run starts
    return DaskRunner(job, spec)


def _dask_names(settings=None) -> list[str]:
    from .cluster_profiles import profile_names

    return profile_names(settings) + ["local:2", "local:4"]


def _dask_edit(parent, settings=None) -> None:
    from .cluster_profiles import ClusterProfilesDialog

    ClusterProfilesDialog(settings, parent).exec()


RUNNER_CHOICES: list[RunnerChoice] = [
    RunnerChoice("local", "This computer", _local, build_in_worker=True),
    RunnerChoice("process", "This computer, separate process", _process),
    RunnerChoice("ssh", "Remote node (SSH)", _ssh, "Host", _ssh_names, _ssh_edit),
    RunnerChoice("dask", "Dask cluster", _dask, "Scheduler", _dask_names, _dask_edit, "Clusters...",
                 placeholder="a saved cluster, or local:N"),
]


def register_runner_choice(choice: RunnerChoice) -> None:
    RUNNER_CHOICES[:] = [c for c in RUNNER_CHOICES if c.key != choice.key] + [choice]


def runner_choice(key: str) -> RunnerChoice:
    for choice in RUNNER_CHOICES:
        if choice.key == key:
            return choice
    raise KeyError(f"no runner {key!r}; known: {', '.join(c.key for c in RUNNER_CHOICES)}")


def detected_devices() -> list[tuple[str, str, bool, str]]:
    """(device setting, label, available, why) for the device box: auto, cpu and the GPU if numba-cuda sees
    one.  Labels stay short (the box's width sets the run panel's); the reason goes into the tooltip."""
    usable, status = gpu_status()
    return [("auto", "Auto (GPU if available)", True, "the GPU if one can be used, else the CPU cores"),
            ("cpu", "CPU cores", True, "every core but one (which stays with the window)"),
            ("gpu", status if usable else "GPU: unavailable", usable, status)]
