"""The runner choices the run panel offers: a small registry, so SSH and Dask plug in here.

A choice has a label, an optional target the panel asks for (a saved host profile,
a scheduler address), suggestions for it, an optional editor (the host profiles
dialog) and ``make(job, target, settings) -> Runner``, where ``settings`` is the
window's QSettings (where host profiles are kept).  The panel and the window only
ever see :class:`braggdesk.compute.runner.Runner`, so a remote or cluster stream
updates the views exactly as a local run does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..compute.runner import Runner
from ..engine.device import gpu_status
from ..errors import BraggdeskError
from ..model import Job
from ..workflow import targets
from ..workflow.targets import RunnerOptions, RunnerTarget, make_runner


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


def target_of(key: str, text: str, settings=None) -> tuple[RunnerTarget, RunnerOptions]:
    """The run panel's choice and its target box as one target of the shared syntax (workflow/targets.py), with
    the window's saved host and cluster profiles: the panel reaches what ``braggdesk run --on`` reaches."""
    text = text.strip()
    options = RunnerOptions(keep_free_cores=1)  # one core stays with the window
    if settings is not None:
        from .cluster_profiles import cluster_profiles_path
        from .host_profiles import load_profiles

        options.hosts = load_profiles(settings)
        options.clusters_path = cluster_profiles_path(settings)
    if key == "local":
        return RunnerTarget("local"), options
    if key == "process":
        return RunnerTarget("process"), options
    if not text:
        raise BraggdeskError("Dask cluster: choose a saved cluster (Clusters...), or give local:N for N local workers"
                             if key == "dask" else "Remote node: choose a saved host (Hosts...) or give an address")
    if key == "ssh":
        return RunnerTarget("ssh", text), options
    from ..compute.cluster_profiles import load_cluster_profiles

    if settings is not None and any(p.name == text for p in load_cluster_profiles(options.clusters_path)):
        return RunnerTarget("profile", text), options
    return RunnerTarget("dask", text), options


def _make(key: str) -> Callable[..., Runner]:
    def make(job: Job, target: str, settings=None) -> Runner:
        return make_runner(job, *target_of(key, target, settings))
    return make


def cluster_spec(target: str, settings=None):
    """The Dask ClusterSpec the panel's scheduler box names (a saved cluster, local:N or an address)."""
    return targets.cluster_spec(*target_of("dask", target, settings))


def _ssh_names(settings=None) -> list[str]:
    from .host_profiles import load_profiles

    return [p.name for p in load_profiles(settings)]


def _ssh_edit(parent, settings=None) -> None:
    from .host_profiles import HostProfilesDialog

    HostProfilesDialog(settings, parent).exec()


def _dask_names(settings=None) -> list[str]:
    from .cluster_profiles import profile_names

    return profile_names(settings) + ["local:2", "local:4"]


def _dask_edit(parent, settings=None) -> None:
    from .cluster_profiles import ClusterProfilesDialog

    ClusterProfilesDialog(settings, parent).exec()


RUNNER_CHOICES: list[RunnerChoice] = [
    RunnerChoice("local", "This computer", _make("local"), build_in_worker=True),
    RunnerChoice("process", "This computer, separate process", _make("process")),
    RunnerChoice("ssh", "Remote node (SSH)", _make("ssh"), "Host", _ssh_names, _ssh_edit),
    RunnerChoice("dask", "Dask cluster", _make("dask"), "Scheduler", _dask_names, _dask_edit, "Clusters...",
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
