"""The local runner: the engine on this machine, in the caller's thread or a worker thread.

Every runner (local, SSH, Dask) has this shape: ``run()`` is a generator of
:class:`Progress`, one per batch; ``cancel()`` stops between batches; ``result()``
turns what was merged so far into a DoseResult, partial if the run did not finish.
"""

from __future__ import annotations

import threading
import time
from typing import Iterator

from ..engine.backend import Backend, select_backend
from ..engine.simulate import PreparedJob, prepare, simulate
from ..model import Accumulator, DoseResult, Job
from .progress import Progress


class LocalRunner:
    def __init__(self, job: Job, backend: Backend | None = None, workers: int | None = None):
        self.job = job
        self.backend = backend or select_backend(job.settings.device)
        self.workers = workers
        self._cancel = threading.Event()
        self._acc = Accumulator()
        self._prepared: PreparedJob | None = None
        self.finished = False

    @property
    def device(self) -> str:
        return self.backend.device_name

    @property
    def notes(self) -> list[str]:
        return [] if self._prepared is None else list(self._prepared.notes)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> Iterator[Progress]:
        t0 = time.perf_counter()
        self._prepared = prepare(self.job, self.backend)
        settings = self.job.settings
        goal_n = settings.primaries if settings.target_uncertainty is None else None
        weight = self._prepared.scale.per_voxel(settings.dose_to)
        for snap in simulate(self.job, prepared=self._prepared, cancel=self._cancel.is_set, workers=self.workers):
            total = self._acc.add(snap)
            yield Progress(total, snap, time.perf_counter() - t0, total.mean_relative_uncertainty(weight),
                           goal_n, settings.target_uncertainty)
        self.finished = not self._cancel.is_set()

    def result(self) -> DoseResult:
        if self._acc.total is None or self._prepared is None:
            raise RuntimeError("no batch has finished yet")
        return DoseResult.from_snapshot(self._acc.total, self._prepared.scale, self.job.ct,
                                        dose_to=self.job.settings.dose_to, partial=not self.finished)
