"""The local runner: the engine on this machine, in the caller's thread or a worker thread."""

from __future__ import annotations

from typing import Iterator

from ..engine.device import Device, select_device
from ..engine.simulate import PreparedJob, prepare, simulate
from ..model import DoseScale, Job, Snapshot
from .runner import Runner


class LocalRunner(Runner):
    kind = "local"
    merges_at_source = True

    def __init__(self, job: Job, device: Device | None = None):
        super().__init__(job)
        self.compute_device = device or select_device(job.settings.device, job.settings.threads)
        self._prepared: PreparedJob | None = None

    @property
    def device(self) -> str:
        return self.compute_device.name

    def _start(self) -> DoseScale:
        self._prepared = prepare(self.job, self.compute_device)
        for note in self._prepared.notes:
            self.add_note(note)
        return self._prepared.scale

    def _snapshots(self) -> Iterator[Snapshot]:
        assert self._prepared is not None
        yield from simulate(self.job, prepared=self._prepared, cancel=lambda: self.cancelled, accumulator=self._acc)
