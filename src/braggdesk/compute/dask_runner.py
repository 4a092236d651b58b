"""The Dask runner: a job's batches as tasks on a Dask cluster, merged in the order they finish.

How a job runs:

* the link is checked first (:meth:`ClusterSpec.link`: TLS certificates, or plain TCP only
  on this machine unless ``insecure``, which the run's notes then say);
* the job (CT, plan, beam model, settings) leaves de-identified and checked
  (:func:`braggdesk.compute.outbound.dask_payload`, refused before anything is sent if it
  carries patient identity), and that outbound job is scattered to every worker once
  (``broadcast=True``: a worker that dies leaves copies on the others);
* batch ``b`` is the pure task ``braggdesk-batch-<job id>-<b>`` running
  :func:`braggdesk.compute.dask_tasks.batch_task`; each worker process prepares
  the job once for its own best device and keeps it by job id;
* results come back through ``as_completed`` as they finish; each future's
  status is checked before its Snapshot is merged (cancelled and failed futures
  come out of ``as_completed`` too);
* a fixed number of primaries submits every batch at once; a target uncertainty
  keeps a few batches in flight (two per worker thread), tops up as each one
  arrives and cancels the rest as soon as the merged sums meet the target;
* a lost worker loses nothing: the scheduler recomputes its batches (the same
  bits, because batch ``b`` always draws from the same random stream);
* ``cancel()`` cancels every batch not yet finished and keeps the finished ones.

With a target uncertainty the stopping point depends on which batches happen
to arrive first; each batch's sums do not, and a fixed-primaries job gives the
same dose, bit for bit, as a local run on the same kind of device.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Iterator

from ..engine.simulate import check_frame_of_reference, dose_scale, plan_batches
from ..io.deidentify import PatientIdentity
from ..model import DoseScale, Job, Snapshot
from .dask_cluster import ClusterError, ClusterHandle, ClusterSpec, check_workers, open_cluster
from .dask_tasks import batch_task, forget_job
from .outbound import Confidential, dask_payload
from .runner import Runner
from .tls import SchedulerLink, parse_address

#: how often a batch is submitted again after its input was lost with every copy of it
MAX_RESUBMITS = 3


class DaskRunner(Runner):
    """A Job over a Dask cluster that braggdesk starts (``spec``) or one the caller holds (``client``).

    ``identity``: the patient's identity as read from the CT (never sent): the outbound check
    also makes sure that none of it went into the job's text."""

    kind = "dask"

    def __init__(self, job: Job, spec: ClusterSpec | None = None, *, client=None, in_flight: int | None = None,
                 identity: PatientIdentity | None = None):
        super().__init__(job)
        if (spec is None) == (client is None):
            raise ValueError("give a ClusterSpec or a connected Dask client, not both")
        self.spec = spec
        self.identity = identity
        self.link: SchedulerLink | None = None
        self._payload = None
        self._client = client
        self._handle: ClusterHandle | None = None
        self._in_flight = in_flight
        self._lock = threading.Lock()
        self._outstanding: dict[str, object] = {}  # key -> future not yet merged
        self._job_future = None
        self._workers: dict[str, dict] = {}
        self._target_met = False

    # -- Runner --------------------------------------------------------------------
    @property
    def device(self) -> str:
        where = self.spec.describe() if self.spec is not None else f"Dask scheduler {self._client.scheduler.address}"
        if not self._workers:
            return where
        kinds = Counter(p["device"] for p in self._workers.values())
        return f"{where}: {len(self._workers)} workers (" + "; ".join(f"{n} x {d}" for d, n in kinds.items()) + ")"

    @property
    def n_workers(self) -> int:
        return len(self._workers)

    @property
    def worker_addresses(self) -> list[str]:
        """The workers' comm addresses (tls://... on an encrypted cluster), as checked at the start."""
        return sorted(self._workers)

    @property
    def scheduler_address(self) -> str | None:
        """The scheduler's comm address while connected (None before the start and after the end)."""
        client = self._client
        return client.scheduler.address if client is not None else None

    def cancel(self) -> None:
        """Stop: cancel every batch not finished yet (finished ones are still merged)."""
        super().cancel()
        self._cancel_pending()

    def close(self) -> None:
        """Close the cluster braggdesk started for this runner (a caller's client stays open)."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            self._client = None
            handle.close()
            for problem in handle.problems:  # e.g. a host that kept the cluster's throw-away certificate folder
                self.add_note(f"after closing the cluster: {problem}")

    def __enter__(self) -> "DaskRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> DoseScale:
        # Checked here, before any cluster work: the link (certificates, no plain TCP off this machine), the
        # plan (a bad one fails at once with the local message), and what would leave with the job.
        self.link = self.spec.link() if self.spec is not None else None
        for note in check_frame_of_reference(self.job):
            self.add_note(note)
        scale = dose_scale(self.job)
        self._payload = dask_payload(self.job, Confidential.of(self.job, self.identity))
        if self._client is None:
            self._handle = open_cluster(self.spec)
            self._client = self._handle.client
        else:
            self.link = parse_address(self._client.scheduler.address)
        if self.link is not None and not self.link.encrypted and not self.link.loopback:
            why = "allowed by --insecure" if self.spec is not None else "the caller's Dask client"
            self.add_note(f"UNENCRYPTED: the job (CT, plan) and its doses crossed the network to {self.link.host} in "
                          f"plain TCP ({self.link.address}, {why}); use tls:// to protect them")
        try:
            self._workers = check_workers(self._client, self.job.settings.device)
            self._job_future = self._scatter_job()
        except BaseException:
            self.close()
            raise
        return scale

    def _snapshots(self) -> Iterator[Snapshot]:
        from distributed import as_completed  # noqa: PLC0415

        settings = self.job.settings
        kinds = {p["backend"] for p in self._workers.values()}
        sizes, batch_size = plan_batches(settings, "cuda" if kinds == {"cuda"} else "cpu")
        if batch_size is None:
            todo = list(enumerate(sizes))
        else:  # target uncertainty: a few in flight, topped up as they arrive
            todo = []
            in_flight = self._in_flight or max(2, 2 * sum(self._client.nthreads().values()))
            next_b, submitted = 0, 0
            while len(todo) < in_flight and submitted < settings.max_primaries:
                n = min(batch_size, settings.max_primaries - submitted)
                todo.append((next_b, n))
                next_b, submitted = next_b + 1, submitted + n
            weight = self._scale.per_voxel(settings.dose_to)
        attempts: dict[int, int] = {}
        meta: dict[str, tuple[int, int]] = {}
        arrivals = as_completed()
        try:
            for b, n in todo:
                arrivals.add(self._submit(b, n, 0, meta))
            for fut in arrivals:
                with self._lock:
                    self._outstanding.pop(fut.key, None)
                b, n = meta.pop(fut.key)
                snap = self._collect(fut, b)
                if snap is None:  # cancelled by us, or lost with its input: submit again
                    if not (self.cancelled or self._target_met):
                        attempts[b] = attempts.get(b, 0) + 1
                        if attempts[b] > MAX_RESUBMITS:
                            raise ClusterError(f"batch {b} was lost {attempts[b]} times; the cluster is unstable")
                        if self._job_future.status != "finished":
                            self._job_future = self._scatter_job()
                        arrivals.add(self._submit(b, n, attempts[b], meta))
                    continue
                yield snap  # one future per batch at a time (a retry only after its future came back empty)
                if self.cancelled or batch_size is None:
                    continue
                total = self.total
                if total.n_batches >= 2 and total.mean_relative_uncertainty(weight) <= settings.target_uncertainty:
                    self.cancel_outstanding()
                    continue
                if submitted < settings.max_primaries:
                    n = min(batch_size, settings.max_primaries - submitted)
                    arrivals.add(self._submit(next_b, n, 0, meta))
                    next_b, submitted = next_b + 1, submitted + n
        finally:
            self._finish()

    # -- helpers ---------------------------------------------------------------------
    def cancel_outstanding(self) -> None:
        """The target is met: cancel what is still queued or running, without marking the run cancelled."""
        self._target_met = True
        self._cancel_pending()

    def _cancel_pending(self) -> None:
        with self._lock:
            pending = [f for f in self._outstanding.values() if f.status != "finished"]
        client = self._client
        if pending and client is not None:
            client.cancel(pending)

    def _scatter_job(self):
        """The checked outbound job to every worker (pickled by Dask as ``outbound.dask_frames`` shows)."""
        key = f"braggdesk-job-{self.job.job_id}"
        return self._client.scatter({key: self._payload}, broadcast=True)[key]

    def _submit(self, b: int, n: int, attempt: int, meta: dict):
        key = f"braggdesk-batch-{self.job.job_id}-{b}" + (f"-retry{attempt}" if attempt else "")
        fut = self._client.submit(batch_task, self._job_future, b, n, key=key, pure=True)
        meta[fut.key] = (b, n)
        with self._lock:
            self._outstanding[fut.key] = fut
        return fut

    def _collect(self, fut, b: int) -> Snapshot | None:
        """The future's Snapshot, None if it was cancelled; the worker's error re-raised as it was."""
        status = fut.status
        if status == "cancelled":
            return None
        if status == "error":
            exc = fut.exception()
            if type(exc).__name__ == "KilledWorker":
                raise ClusterError(f"batch {b} killed the Dask workers that ran it ({exc}); it may need more "
                                   f"memory than a worker has") from None
            fut.result()  # re-raises the worker's exception (PlanError, DeviceError ...) with its message
        # "finished", or "lost"/"pending" while Dask recomputes it after a lost worker: result() waits
        try:
            snap = fut.result()
        except Exception as exc:
            if type(exc).__name__ in ("CancelledError", "FutureCancelledError"):
                return None
            raise
        fut.release()
        if snap.job_id != self.job.job_id or snap.batches != (b,):
            raise ClusterError(f"batch {b} came back as batches {snap.batches} of job {snap.job_id}")
        return snap

    def _finish(self) -> None:
        with self._lock:
            left = list(self._outstanding.values())
            self._outstanding.clear()
        try:
            if self._client is not None:
                if left:
                    self._client.cancel(left)
                if self._handle is None:  # a caller's cluster lives on: free what this job holds there
                    self._client.run(forget_job, self.job.job_id, on_error="return")
                    if self._job_future is not None:
                        self._job_future.release()
        finally:
            self._job_future = None
            self.close()
