"""The runner interface every way of computing a job shares (local, SSH node, Dask cluster).

A runner takes a Job and turns the engine's stream of Snapshots into a stream of
:class:`Progress`: ``run()`` yields one after every merged batch, ``cancel()``
asks it to stop (between batches; what is done is kept), ``result()`` turns the
sums merged so far into a DoseResult, labelled partial unless the run finished.
The CLI progress bar and the GUI run panel are written against this class only,
so a new runner plugs in without touching them.

A subclass provides two things: ``_start()`` (get ready; return the DoseScale
that turns energy into Gy) and ``_snapshots()`` (the batches' sums as they come,
stopping soon after ``self.cancelled`` turns true).
"""

from __future__ import annotations

import abc
import threading
import time
from typing import Iterator

from ..model import Accumulator, DoseResult, DoseScale, Job, Snapshot
from .progress import Progress


class Runner(abc.ABC):
    """Job in, Progress out after each batch; cancellable; partial results kept."""

    #: short name shown in panels and summaries ("local", "ssh", "dask")
    kind = "runner"
    #: True for a runner whose ``_snapshots`` already merges each batch into ``self._acc`` (the local one,
    #: through the engine), so ``run`` does not merge it again
    merges_at_source = False

    def __init__(self, job: Job):
        self.job = job
        self._cancel = threading.Event()
        self._acc = Accumulator()
        self._scale: DoseScale | None = None
        self._notes: list[str] = []
        self.finished = False

    # -- what a subclass provides -------------------------------------------------
    @abc.abstractmethod
    def _start(self) -> DoseScale:
        """Get ready to run (prepare a device, connect, start a cluster); the job's DoseScale."""

    @abc.abstractmethod
    def _snapshots(self) -> Iterator[Snapshot]:
        """The sums of each batch as it finishes; stop soon after ``self.cancelled``."""

    @property
    @abc.abstractmethod
    def device(self) -> str:
        """Where the job runs, in words (e.g. 'cpu (numpy, 2 threads)', 'ssh node: NVIDIA H100')."""

    # -- the shared part -----------------------------------------------------------
    @property
    def notes(self) -> list[str]:
        return list(self._notes)

    def add_note(self, note: str) -> None:
        if note and note not in self._notes:
            self._notes.append(note)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def total(self) -> Snapshot | None:
        """Everything merged so far (None before the first batch)."""
        return self._acc.total

    def run(self) -> Iterator[Progress]:
        t0 = time.perf_counter()
        self.finished = False
        self._scale = self._start()
        settings = self.job.settings
        goal_n = settings.primaries if settings.target_uncertainty is None else None
        weight = self._scale.per_voxel(settings.dose_to)
        for snap in self._snapshots():
            total = self._acc.total if self.merges_at_source else self._acc.add(snap)
            for note in snap.notes:
                self.add_note(note)
            yield Progress(total, snap, time.perf_counter() - t0, self._acc.mean_relative_uncertainty(weight),
                           goal_n, settings.target_uncertainty)
        self.finished = not self.cancelled

    def result(self) -> DoseResult:
        """Dose, uncertainty and LETd from what has been merged; partial unless the run finished."""
        if self._acc.total is None or self._scale is None:
            raise RuntimeError("no batch has finished yet")
        result = DoseResult.from_snapshot(self._acc.total, self._scale, self.job.ct,
                                          dose_to=self.job.settings.dose_to, partial=not self.finished)
        result.notes = list(dict.fromkeys(self._notes + result.notes))
        return result
