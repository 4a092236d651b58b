"""The local runner: the engine on this machine, in the caller's thread or a worker thread."""

from __future__ import annotations

from typing import Iterator

from ..engine.backend import Backend, select_backend
from ..engine.simulate import PreparedJob, prepare, simulate
from ..model import DoseScale, Job, Snapshot
from .runner import Runner


class LocalRunner(Runner):
    kind = "local"

    def __init__(self, job: Job, backend: Backend | None = None, workers: int | None = None):
        super().__init__(job)
        self.backend = backend or select_backend(job.settings.device)
        self.workers = workers
        self._prepared: PreparedJob | None = None

    @property
    def device(self) -> str:
        return self.backend.device_name

    def _start(self) -> DoseScale:
        self._prepared = prepare(self.job, self.backend)
        for note in self._prepared.notes:
            self.add_note(note)
        return self._prepared.scale

    def _snapshots(self) -> Iterator[Snapshot]:
        assert self._prepared is not None
        yield from simulate(self.job, prepared=self._prepared, cancel=lambda: self.cancelled, workers=self.workers)
