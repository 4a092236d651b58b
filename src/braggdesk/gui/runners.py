"""The runner choices the run panel offers: a small registry, so SSH and Dask plug in here.

A choice has a label, an optional target (host, scheduler address) the panel asks
for, and ``make(job, target) -> Runner``.  The panel and the window only ever see
:class:`braggdesk.compute.runner.Runner`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..compute.runner import Runner
from ..engine.backend import gpu_status
from ..model import Job


@dataclass(frozen=True)
class RunnerChoice:
    key: str
    label: str
    make: Callable[[Job, str], Runner]
    target_label: str = ""  # e.g. "user@host[:port]"; empty: no target needed


def _local(job: Job, target: str) -> Runner:
    from ..compute.local import LocalRunner

    return LocalRunner(job)


RUNNER_CHOICES: list[RunnerChoice] = [RunnerChoice("local", "This computer", _local)]


def register_runner_choice(choice: RunnerChoice) -> None:
    RUNNER_CHOICES[:] = [c for c in RUNNER_CHOICES if c.key != choice.key] + [choice]


def runner_choice(key: str) -> RunnerChoice:
    for choice in RUNNER_CHOICES:
        if choice.key == key:
            return choice
    raise KeyError(f"no runner {key!r}; known: {', '.join(c.key for c in RUNNER_CHOICES)}")


def detected_devices() -> list[tuple[str, str, bool]]:
    """(device setting, label, available) for the device box: auto, cpu and the GPU if CuPy sees one."""
    cupy, status = gpu_status()
    return [("auto", "Auto (GPU if available)", True), ("cpu", "CPU (numpy)", True),
            ("gpu", status if cupy is not None else f"GPU: unavailable ({status})", cupy is not None)]
