"""What runs on a Dask worker: one batch of a job, and a probe of the worker.

Dask unpickles task functions by module name, so they live here, in the
installed package (a worker without braggdesk cannot run them; the runner
checks that right after the cluster starts, see ``dask_cluster.check_workers``).

A worker process prepares a job (media, tables, spots on its own best device)
once and keeps the PreparedJob by job id, so every further batch of that job on
the same process only transports.  The job itself arrives once per worker as
scattered data; Dask hands the same object to every task that names it.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from .._version import __version__
from ..engine.device import select_device
from ..engine.dij import PreparedDij, prepare_dij, run_block
from ..engine.simulate import PreparedJob, prepare, run_batch
from ..model import Job, Snapshot
from ..model.dij import DijBatch

#: prepared jobs kept per worker process (the newest few; a GUI may run job after job)
KEEP_PREPARED = 2

_prepared: OrderedDict[str, PreparedJob] = OrderedDict()
_prepared_dij: OrderedDict[str, PreparedDij] = OrderedDict()
_prepare_lock = threading.Lock()
# A GPU runs one batch at a time: a worker with many threads (one per CPU core by
# default) would otherwise start as many GPU batches at once and run out of memory.
_gpu_lock = threading.Lock()


def prepared_for(job: Job) -> PreparedJob:
    """This process's PreparedJob for ``job``, built on first use (once, even with several threads)."""
    with _prepare_lock:
        hit = _prepared.get(job.job_id)
        if hit is not None:
            _prepared.move_to_end(job.job_id)
            return hit
        prepared = prepare(job, select_device(job.settings.device, job.settings.threads or _worker_threads()))
        _prepared[job.job_id] = prepared
        while len(_prepared) > KEEP_PREPARED:
            _prepared.popitem(last=False)
        return prepared


def _worker_threads() -> int | None:
    """The Dask worker's own thread count: a worker given N threads runs the kernel on N cores
    (batches on one worker take turns), so workers sharing a machine do not oversubscribe it."""
    try:
        from distributed import get_worker  # noqa: PLC0415

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return None


def batch_task(job: Job, batch_index: int, n_primaries: int) -> Snapshot:
    """One batch of ``job`` on this worker: the same bits as the same batch anywhere else."""
    prepared = prepared_for(job)
    if prepared.device.is_gpu:
        with _gpu_lock:
            return run_batch(prepared, batch_index, n_primaries)
    return run_batch(prepared, batch_index, n_primaries)


def dij_block_task(inputs: tuple[Job, object], first_spot: int, n_spots: int, per_spot: int,
                   pass_index: int = 0) -> DijBatch:
    """One block of spots of a dose-influence matrix (``inputs``: the job and its voxels of interest)."""
    job, voxel_index = inputs
    with _prepare_lock:
        prepared = _prepared_dij.get(job.job_id)
        if prepared is None:
            prepared = prepare_dij(job, voxel_index, select_device(job.settings.device,
                                                                   job.settings.threads or _worker_threads()))
            _prepared_dij[job.job_id] = prepared
            while len(_prepared_dij) > KEEP_PREPARED:
                _prepared_dij.popitem(last=False)
    if prepared.prepared.device.is_gpu:
        with _gpu_lock:
            return run_block(prepared, first_spot, n_spots, per_spot, pass_index)
    return run_block(prepared, first_spot, n_spots, per_spot, pass_index)


def forget_job(job_id: str) -> bool:
    """Drop this process's prepared job or matrix of a finished job (run on every worker at the end)."""
    with _prepare_lock:
        dropped = _prepared.pop(job_id, None) is not None
        return _prepared_dij.pop(job_id, None) is not None or dropped


def probe(device: str = "auto") -> dict:
    """What this worker is: braggdesk version, process id, the kind and device a job would use."""
    try:
        chosen = select_device(device)
        name, where, note = chosen.kind, chosen.name, chosen.note
    except Exception as exc:  # a worker that cannot give the device reports why, it does not crash
        name, where, note = "", "", str(exc)
    return {"version": __version__, "pid": os.getpid(), "backend": name, "device": where, "note": note}
