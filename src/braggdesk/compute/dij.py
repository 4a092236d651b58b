"""Computing a dose-influence matrix on a runner: here, or blocks of spots as Dask tasks.

The cloud planning system braggdesk descends from (Na et al. 2013) spread its Monte Carlo beamlets
over workers; here a block of consecutive spots is one task (:func:`braggdesk.engine.dij.run_block`),
keyed by its first spot, so the matrix is the same bit for bit whether the blocks ran in this process
or on any number of workers, and a lost worker's block is simply run again.

``DijComputation.run()`` yields a :class:`DijProgress` after every block; ``cancel()`` stops between
blocks (blocks done are kept); ``result()`` merges what came back and makes the matrix in Gy per MU
(refusing one with spots still missing, unless asked for what there is).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..engine.device import Device, select_device
from ..engine.dij import PreparedDij, block_size, blocks, dij_scale, prepare_dij, run_block, unit_weight_job
from ..engine.simulate import check_frame_of_reference
from ..model import Job
from ..model.dij import DijBatch
from ..planning.dij import DoseInfluence, dose_influence


@dataclass
class DijProgress:
    """Where a matrix stands after a block."""

    spots_done: int
    n_spots: int
    primaries: int
    seconds: float
    device: str
    entries: int

    @property
    def fraction_done(self) -> float:
        return self.spots_done / max(self.n_spots, 1)

    @property
    def primaries_per_second(self) -> float:
        return self.primaries / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        eta = self.seconds * (1 - self.fraction_done) / self.fraction_done if self.spots_done else float("nan")
        return (f"Dij: {self.spots_done}/{self.n_spots} spots, {self.primaries:,} primaries, "
                f"{self.primaries_per_second:,.0f}/s, {self.seconds:.0f} s" + (f", ETA {eta:.0f} s" if eta == eta else ""))


class DijComputation:
    """A matrix's blocks on some device; subclasses say where (``_blocks``)."""

    kind = "local"

    def __init__(self, job: Job, voxel_index: np.ndarray, per_spot: int):
        if per_spot < 1:
            raise ValueError(f"histories per spot must be at least 1, got {per_spot}")
        self.job = unit_weight_job(job)
        self.voxel_index = np.asarray(voxel_index, dtype=np.int64)
        self.per_spot = int(per_spot)
        self._cancel = threading.Event()
        self._parts: list[DijBatch] = []
        self._lock = threading.Lock()
        self.notes: list[str] = check_frame_of_reference(self.job)
        self._protons_per_mu, self._gy_per_mev = dij_scale(self.job)
        self.n_spots = int(self._protons_per_mu.size)
        self.finished = False
        self.device = ""

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _blocks(self) -> Iterator[DijBatch]:
        raise NotImplementedError  # each subclass says where its blocks run (LocalDij, DaskDij)

    def run(self) -> Iterator[DijProgress]:
        t0 = time.perf_counter()
        done = primaries = entries = 0
        for part in self._blocks():
            with self._lock:
                self._parts.append(part)
            done += int(np.count_nonzero(part.histories))
            primaries += part.primaries
            entries += part.n_entries
            self.device = part.device or self.device
            yield DijProgress(done, self.n_spots, primaries, time.perf_counter() - t0, self.device, entries)
        self.finished = not self.cancelled

    def sums(self) -> DijBatch | None:
        with self._lock:
            parts = list(self._parts)
        return DijBatch.merge(parts) if parts else None

    def result(self) -> DoseInfluence:
        """The matrix in Gy per MU from every block that came back (all spots needed)."""
        sums = self.sums()
        if sums is None:
            raise ValueError("no block of the dose-influence matrix has finished yet")
        return dose_influence(sums, self.voxel_index, self._gy_per_mev, self._protons_per_mu, self.job.ct.shape,
                              self.job.settings.dose_to)


class LocalDij(DijComputation):
    """Blocks one after another on this machine's GPU or CPU cores (every core per block)."""

    kind = "local"

    def __init__(self, job: Job, voxel_index: np.ndarray, per_spot: int, device: Device | None = None):
        super().__init__(job, voxel_index, per_spot)
        self._device = device
        self.prepared: PreparedDij | None = None

    def _blocks(self) -> Iterator[DijBatch]:
        device = self._device or select_device(self.job.settings.device, self.job.settings.threads)
        self.prepared = prepare_dij(self.job, self.voxel_index, device)
        self.device = self.prepared.prepared.device.name
        size = block_size(self.prepared.n_rows, self.per_spot, self.prepared.prepared.device.kind)
        for first, n in blocks(self.n_spots, size):
            if self.cancelled:
                return
            yield run_block(self.prepared, first, n, self.per_spot)


class DaskDij(DijComputation):
    """Blocks as Dask tasks on a cluster that braggdesk starts (``spec``) or the caller's ``client``.

    The job leaves de-identified and checked, as for a dose (:func:`braggdesk.compute.outbound.dask_payload`);
    it and the voxels of interest are scattered once; each worker prepares the matrix once per process."""

    kind = "dask"

    def __init__(self, job: Job, voxel_index: np.ndarray, per_spot: int, spec=None, *, client=None):
        super().__init__(job, voxel_index, per_spot)
        if (spec is None) == (client is None):
            raise ValueError("give a ClusterSpec or a connected Dask client, not both")
        self.spec = spec
        self._client = client
        self._handle = None

    def _blocks(self) -> Iterator[DijBatch]:
        from distributed import as_completed  # noqa: PLC0415

        from .dask_cluster import check_workers, open_cluster  # noqa: PLC0415
        from .dask_tasks import dij_block_task, forget_job  # noqa: PLC0415
        from .outbound import Confidential, dask_payload  # noqa: PLC0415

        payload = dask_payload(self.job, Confidential.of(self.job))
        if self._client is None:
            self._handle = open_cluster(self.spec)
            self._client = self._handle.client
        client = self._client
        futures = []
        try:
            workers = check_workers(client, self.job.settings.device)
            kinds = {p["backend"] for p in workers.values()}
            self.device = f"Dask: {len(workers)} workers"
            key = f"braggdesk-dij-{self.job.job_id}"
            inputs = client.scatter({key: (payload, self.voxel_index)}, broadcast=True)[key]
            size = block_size(self.voxel_index.size, self.per_spot, "cuda" if kinds == {"cuda"} else "cpu")
            for first, n in blocks(self.n_spots, size):
                futures.append(client.submit(dij_block_task, inputs, first, n, self.per_spot,
                                             key=f"braggdesk-dij-{self.job.job_id}-{first}", pure=True))
            for fut in as_completed(futures):
                if self.cancelled:
                    break
                part = fut.result()
                fut.release()
                yield part
        finally:
            pending = [f for f in futures if f.status != "finished"]
            if pending:
                client.cancel(pending)
            if self._handle is not None:
                handle, self._handle, self._client = self._handle, None, None
                handle.close()
            else:
                client.run(forget_job, self.job.job_id, on_error="return")


class RemoteDij(DijComputation):
    """Blocks on a ``braggdesk worker`` at the end of a link (a GPU node over SSH, or a local pipe).

    ``make_runner(job)`` gives the stream runner for the job (SshRunner, PipeRunner), as for a dose;
    the node runs the blocks in its own engine process and keeps them in its job folder, so a dropped
    link loses nothing (the runner re-attaches and the node sends only the blocks not yet here)."""

    kind = "remote"

    def __init__(self, job: Job, voxel_index: np.ndarray, per_spot: int, make_runner):
        super().__init__(job, voxel_index, per_spot)
        self.runner = make_runner(self.job)

    def cancel(self) -> None:
        super().cancel()
        self.runner.cancel()

    def _blocks(self) -> Iterator[DijBatch]:
        for block in self.runner.dij_blocks(self.voxel_index, self.per_spot):
            self.device = self.runner.device
            yield block
