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

import abc
import dataclasses
import math
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
from ..planning.dij import DoseInfluence, dose_influence, mean_spot_uncertainty

#: with a target uncertainty: at most this many histories per spot in all passes, unless the caller says
DEFAULT_MAX_PER_SPOT = 100_000
#: a further pass aims this much beyond the histories the uncertainty so far asks for (so one pass is enough)
PASS_OVERSHOOT = 1.1


@dataclass
class DijProgress:
    """Where a matrix stands after a block."""

    spots_done: int  # in this pass
    n_spots: int
    primaries: int
    seconds: float
    device: str
    entries: int
    pass_index: int = 0
    uncertainty: float | None = None  # mean spot uncertainty after the previous pass (a target's runs)

    @property
    def fraction_done(self) -> float:
        return self.spots_done / max(self.n_spots, 1)

    @property
    def primaries_per_second(self) -> float:
        return self.primaries / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        eta = self.seconds * (1 - self.fraction_done) / self.fraction_done if self.spots_done else float("nan")
        again = f"pass {self.pass_index + 1} (after {100 * self.uncertainty:.1f} %), " if self.pass_index else ""
        return (f"Dij: {again}{self.spots_done}/{self.n_spots} spots, {self.primaries:,} primaries, "
                f"{self.primaries_per_second:,.0f}/s, {self.seconds:.0f} s" + (f", ETA {eta:.0f} s" if eta == eta else ""))


class DijComputation(abc.ABC):
    """A matrix's blocks on some device; subclasses say where (``_blocks``).

    ``target_uncertainty``: after the first pass of ``per_spot`` histories per spot, further passes over every
    spot (new random streams) until the mean over spots of each spot's relative uncertainty (over its
    entries above half its maximum, the rule of a dose) is at most this, or ``max_per_spot`` histories per
    spot are spent; each pass is sized from the uncertainty so far (it falls as one over the square root
    of the histories)."""

    kind = "local"

    def __init__(self, job: Job, voxel_index: np.ndarray, per_spot: int, *, target_uncertainty: float | None = None,
                 max_per_spot: int = DEFAULT_MAX_PER_SPOT):
        if per_spot < 1:
            raise ValueError(f"histories per spot must be at least 1, got {per_spot}")
        if target_uncertainty is not None and not 0 < target_uncertainty < 1:
            raise ValueError(f"a matrix's target uncertainty is a fraction between 0 and 1, got {target_uncertainty}")
        self.target_uncertainty = target_uncertainty
        self.max_per_spot = max(int(max_per_spot), int(per_spot))
        self.job = unit_weight_job(job)
        self.voxel_index = np.asarray(voxel_index, dtype=np.int64)
        self.per_spot = int(per_spot)
        self._cancel = threading.Event()
        self._parts: list[DijBatch] = []
        self._merged: DijBatch | None = None  # the sums of the first ``_merged_count`` parts
        self._merged_count = 0
        self._lock = threading.Lock()
        self.notes: list[str] = check_frame_of_reference(self.job)
        self._protons_per_mu, self._gy_per_mev = dij_scale(self.job)
        self.n_spots = int(self._protons_per_mu.size)
        self.finished = False
        self.device = ""
        self.uncertainty: float | None = None  # mean spot uncertainty after the last pass (with a target)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @abc.abstractmethod
    def _blocks(self, pass_index: int, per_spot: int) -> Iterator[DijBatch]:
        """Every spot's block of one pass, ``per_spot`` histories each, as they finish."""

    def run(self) -> Iterator[DijProgress]:
        t0 = time.perf_counter()
        primaries = entries = 0
        pass_index, per_spot, spent = 0, self.per_spot, 0
        while True:
            done = 0
            for part in self._blocks(pass_index, per_spot):
                with self._lock:
                    self._parts.append(part)
                done += int(np.count_nonzero(part.histories))
                primaries += part.primaries
                entries += part.n_entries
                self.device = part.device or self.device
                yield DijProgress(done, self.n_spots, primaries, time.perf_counter() - t0, self.device, entries,
                                  pass_index, self.uncertainty)
            spent += per_spot
            if self.cancelled or self.target_uncertainty is None:
                break
            self.uncertainty = mean_spot_uncertainty(self.sums())
            if self.uncertainty <= self.target_uncertainty or spent >= self.max_per_spot:
                break
            wanted = spent * (self.uncertainty / self.target_uncertainty) ** 2 * PASS_OVERSHOOT
            per_spot = int(min(max(math.ceil(wanted - spent), 1), self.max_per_spot - spent))
            pass_index += 1
        self.finished = not self.cancelled

    def sums(self) -> DijBatch | None:
        """The merged sums of every block so far; each block is merged once (a pass's uncertainty check and
        the result reuse what earlier calls merged)."""
        with self._lock:
            new = self._parts[self._merged_count:]
            if new:
                self._merged = DijBatch.merge(new if self._merged is None else [self._merged, *new])
                self._merged_count = len(self._parts)
            return self._merged

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

    def __init__(self, job: Job, voxel_index: np.ndarray, per_spot: int, device: Device | None = None, **kwargs):
        super().__init__(job, voxel_index, per_spot, **kwargs)
        self._device = device
        self.prepared: PreparedDij | None = None

    def _blocks(self, pass_index: int, per_spot: int) -> Iterator[DijBatch]:
        if self.prepared is None:
            device = self._device or select_device(self.job.settings.device, self.job.settings.threads)
            self.prepared = prepare_dij(self.job, self.voxel_index, device)
            self.device = self.prepared.prepared.device.name
        size = block_size(self.prepared.n_rows, per_spot, self.prepared.prepared.device.kind)
        for first, n in blocks(self.n_spots, size):
            if self.cancelled:
                return
            yield run_block(self.prepared, first, n, per_spot, pass_index)


class DaskDij(DijComputation):
    """Blocks as Dask tasks on a cluster that braggdesk starts (``spec``) or the caller's ``client``.

    The job leaves de-identified and checked, as for a dose (:func:`braggdesk.compute.outbound.dask_payload`);
    it and the voxels of interest are scattered once; each worker prepares the matrix once per process.
    The cluster braggdesk starts lives until the last pass is done."""

    kind = "dask"

    def __init__(self, job: Job, voxel_index: np.ndarray, per_spot: int, spec=None, *, client=None, **kwargs):
        super().__init__(job, voxel_index, per_spot, **kwargs)
        if (spec is None) == (client is None):
            raise ValueError("give a ClusterSpec or a connected Dask client, not both")
        self.spec = spec
        self._client = client
        self._handle = None
        self._inputs = None
        self._kinds: set[str] = set()

    def run(self) -> Iterator[DijProgress]:
        try:
            yield from super().run()
        finally:
            self._close()

    def _connect(self):
        from .dask_cluster import check_workers, open_cluster  # noqa: PLC0415
        from .outbound import Confidential, dask_payload  # noqa: PLC0415

        payload = dask_payload(self.job, Confidential.of(self.job))
        if self._client is None:
            self._handle = open_cluster(self.spec)
            self._client = self._handle.client
        workers = check_workers(self._client, self.job.settings.device)
        self._kinds = {p["backend"] for p in workers.values()}
        self.device = f"Dask: {len(workers)} workers"
        key = f"braggdesk-dij-{self.job.job_id}"
        self._inputs = self._client.scatter({key: (payload, self.voxel_index)}, broadcast=True)[key]

    def _blocks(self, pass_index: int, per_spot: int) -> Iterator[DijBatch]:
        from distributed import as_completed  # noqa: PLC0415

        from .dask_tasks import dij_block_task  # noqa: PLC0415

        if self._inputs is None:
            self._connect()
        client = self._client
        size = block_size(self.voxel_index.size, per_spot, "cuda" if self._kinds == {"cuda"} else "cpu")
        futures = [client.submit(dij_block_task, self._inputs, first, n, per_spot, pass_index,
                                 key=f"braggdesk-dij-{self.job.job_id}-{pass_index}-{first}", pure=True)
                   for first, n in blocks(self.n_spots, size)]
        try:
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

    def _close(self) -> None:
        from .dask_tasks import forget_job  # noqa: PLC0415

        client, self._inputs = self._client, None
        if self._handle is not None:
            handle, self._handle, self._client = self._handle, None, None
            handle.close()
        elif client is not None:
            client.run(forget_job, self.job.job_id, on_error="return")


class RemoteDij(DijComputation):
    """Blocks on a ``braggdesk worker`` at the end of a link (a GPU node over SSH, or a local pipe).

    ``make_runner(job)`` gives the stream runner for the job (SshRunner, PipeRunner), as for a dose;
    the node runs the blocks in its own engine process and keeps them in its job folder, so a dropped
    link loses nothing (the runner re-attaches and the node sends only the blocks not yet here).  With a
    target uncertainty, each later pass is a job of its own at the node (id ``<job id>-pass<k>``, the
    pass's random streams), its blocks counted into this matrix."""

    kind = "remote"

    def __init__(self, job: Job, voxel_index: np.ndarray, per_spot: int, make_runner, **kwargs):
        super().__init__(job, voxel_index, per_spot, **kwargs)
        self._make_runner = make_runner
        self.runner = make_runner(self.job)

    def cancel(self) -> None:
        super().cancel()
        self.runner.cancel()

    def _blocks(self, pass_index: int, per_spot: int) -> Iterator[DijBatch]:
        if pass_index > 0:
            self.runner = self._pass_runner(pass_index)
        runner = self.runner
        for block in runner.dij_blocks(self.voxel_index, per_spot, pass_index):
            self.device = runner.device
            yield dataclasses.replace(block, job_id=self.job.job_id) if block.job_id != self.job.job_id else block

    def _pass_runner(self, pass_index: int):
        """A runner for pass ``pass_index``: a new job at the node, never an attach (an ``--attach`` names the
        first pass's job)."""
        first = self.runner
        job = dataclasses.replace(self.job, job_id=f"{first.job_id[:50]}-pass{pass_index}")
        runner = self._make_runner(job)
        if getattr(runner, "attach", False):
            runner.attach = False
            runner.job = job
        return runner
