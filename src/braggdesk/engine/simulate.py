"""The engine's public entry: ``simulate(job)`` yields a Snapshot after every batch.

Batch ``b`` draws from its own random stream, spawned from the job's seed as
``SeedSequence(seed, spawn_key=(b,))``, so a batch gives the same sums wherever
it runs (thread, SSH node, cluster worker).  Cancelling between batches keeps
everything done so far: the caller simply stops iterating, or passes ``cancel``.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from ..errors import PlanError
from ..model import DoseScale, Job, Snapshot
from ..model.snapshot import ENERGY_QUANTUM_MEV
from .backend import Backend, select_backend
from .geometry import GridFrame
from .media import Media, build_media
from .source import DeviceSpots, SpotTable, build_spot_table
from .transport import TransportTables, deflect_directions, highland_f, transport_batch

DEFAULT_PRIMARIES_PER_BATCH = {"numpy": 20_000, "cupy": 1_000_000}


@dataclass
class PreparedJob:
    """What a job turns into on one device: media, tables, spots.  Built once, used per batch."""

    job: Job
    backend: Backend
    media: Media
    spots_table: SpotTable
    tables: TransportTables
    spots: DeviceSpots
    scale: DoseScale
    notes: list[str] = field(default_factory=list)


def check_frame_of_reference(job: Job) -> list[str]:
    """A plan on another frame of reference than the CT is refused unless the job says to ignore it."""
    ct_for, plan_for = job.ct.frame_of_reference_uid, job.plan.frame_of_reference_uid
    if ct_for and plan_for and ct_for != plan_for:
        if not job.ignore_frame_of_reference:
            raise PlanError(
                f"the plan's frame of reference ({plan_for}) differs from the CT's ({ct_for}); "
                "use --ignore-frame-of-reference to run it on this CT anyway (e.g. a phantom)")
        return [f"frame of reference ignored: plan {plan_for} on CT {ct_for}"]
    return []


def prepare(job: Job, backend: Backend | None = None) -> PreparedJob:
    backend = backend or select_backend(job.settings.device)
    notes = check_frame_of_reference(job)
    if backend.note:
        notes.append(backend.note)
    xp = backend.xp
    grid, media, table = _host_setup(job)
    notes.extend(table.notes)
    tables = TransportTables.build(xp, media, grid, nuclear=job.settings.nuclear, score_let=job.settings.score_let)
    spots = DeviceSpots(table, xp)
    return PreparedJob(job, backend, media, table, tables, spots, media.dose_scale(table.total_protons), notes)


def dose_scale(job: Job) -> DoseScale:
    """The job's energy-to-Gy factors without preparing a device: for runners whose batches run elsewhere."""
    _, media, table = _host_setup(job)
    return media.dose_scale(table.total_protons)


def _host_setup(job: Job) -> tuple[GridFrame, Media, SpotTable]:
    """The device-independent part of preparing a job: grid frame, per-voxel media, spot table."""
    grid = GridFrame.of(job.ct)
    media = build_media(job.ct, job.calibration)
    table = build_spot_table(job.plan, job.beam_model, grid, job.ct.patient_position or "HFS")
    return grid, media, table


def batch_seed(seed: int, batch_index: int) -> int:
    state = np.random.SeedSequence(seed, spawn_key=(batch_index,)).generate_state(2, dtype=np.uint64)
    return (int(state[0]) ^ (int(state[1]) << 1)) & ((1 << 63) - 1)


def run_batch(prepared: PreparedJob, batch_index: int, n_primaries: int) -> Snapshot:
    """One batch, start to end, on the prepared device: a Snapshot of its sums."""
    backend = prepared.backend
    rng = backend.rng(batch_seed(prepared.job.settings.seed, batch_index))
    t0 = time.perf_counter()
    tally, counters = transport_batch(prepared.tables, prepared.spots, rng, n_primaries,
                                      range_shifter=_range_shifter_fn(prepared))
    backend.synchronize()
    energy = backend.to_numpy(tally.energy)
    e_mev = energy * ENERGY_QUANTUM_MEV
    return Snapshot(
        primaries=n_primaries,
        energy=energy,
        energy_sq=backend.to_numpy(tally.energy_sq),
        batch_sq_sum=e_mev * e_mev / max(n_primaries, 1),
        let_numerator=backend.to_numpy(tally.let_num),
        let_energy=energy - backend.to_numpy(tally.nuclear_local),
        batches=(batch_index,),
        compute_seconds=time.perf_counter() - t0,
        device=backend.device_name,
        job_id=prepared.job.job_id,
        notes=tuple(prepared.notes),
        counters=counters,
    )


def _range_shifter_fn(prepared: PreparedJob):
    slabs = prepared.spots_table.range_shifters
    if not slabs:
        return None
    tb, table = prepared.tables, prepared.spots_table

    def apply(xp, rng, pos, dvec, energy, beam):
        f32 = xp.float32
        for slab in slabs:
            sel = beam == slab.beam_index
            iso = xp.asarray(table.iso[slab.beam_index], dtype=pos.dtype)
            axis = xp.asarray(table.direction[slab.beam_index], dtype=pos.dtype)
            plane = iso - slab.upstream_distance_mm * axis
            t = ((plane[None, :] - pos) @ axis) / (dvec @ axis)
            pos = xp.where(sel[:, None], pos + t[:, None] * dvec, pos)
            r = tb.range_mm(xp, energy)
            wet = f32(slab.water_equivalent_mm)
            e_mid = tb.energy_of_range(xp, xp.maximum(r - 0.5 * wet, f32(1e-6)))
            e_out = tb.energy_of_range(xp, xp.maximum(r - wet, f32(1e-6)))
            _, bohr_var, highland_k, _ = tb.mid_step.rows_at(xp, e_mid)
            g = rng.standard_normal((3, energy.size), dtype=f32)
            loss = (energy - e_out) + xp.sqrt(bohr_var * wet) * g[0]
            new_e = xp.where(r <= wet, f32(0), xp.maximum(energy - loss, f32(0)))
            theta0 = highland_k * xp.sqrt(highland_f(xp, xp.full_like(energy, slab.thickness_in_x0)))
            d2 = deflect_directions(xp, dvec.astype(f32), theta0 * g[1], theta0 * g[2])
            dvec = xp.where(sel[:, None], d2, dvec)
            energy = xp.where(sel, new_e, energy)
        return pos, dvec, energy

    return apply


def plan_batches(settings, backend_name: str) -> tuple[list[int], int | None]:
    """Primaries per batch for a fixed-count job (list), or the batch size for a target-uncertainty job."""
    if settings.primaries is not None and settings.target_uncertainty is None:
        first = getattr(settings, "first_batch_primaries", None)  # jobs pickled before the field existed
        k = min(settings.batches, settings.primaries)
        if first is not None and k > 1 and first < settings.primaries // k:
            return [first] + _split(settings.primaries - first, k - 1), None
        return _split(settings.primaries, k), None
    size = settings.primaries_per_batch or DEFAULT_PRIMARIES_PER_BATCH[backend_name]
    return [], int(size)


def _split(n: int, k: int) -> list[int]:
    base, extra = divmod(n, k)
    return [base + (1 if b < extra else 0) for b in range(k)]


def default_workers(backend: Backend) -> int:
    """Batches run at once: one per CPU core with numpy (its ufuncs release the GIL), one on a GPU."""
    return 1 if backend.is_gpu else max(1, os.cpu_count() or 1)


def simulate(job: Job, *, backend: Backend | None = None, cancel: Callable[[], bool] | None = None,
             prepared: PreparedJob | None = None, workers: int | None = None,
             done: Snapshot | None = None) -> Iterator[Snapshot]:
    """Yield one Snapshot (the sums of that batch alone) per batch, as batches finish.

    Merge them by addition (exact in any order).  With a target uncertainty, batches run
    until the mean relative uncertainty over voxels above 50 % of the maximum dose reaches
    it (or ``max_primaries``).  ``cancel`` is polled before each batch starts; batches
    already running finish and are yielded, so nothing computed is lost.

    ``done`` resumes a job: the sums of batches already computed (e.g. kept on disk by a
    remote node whose process died).  Those batches are not run again and not yielded;
    the batches that remain are exactly those a fresh run would have added.
    """
    prepared = prepared or prepare(job, backend)
    workers = workers or default_workers(prepared.backend)
    sizes, batch_size = plan_batches(job.settings, prepared.backend.name)
    cancelled = (lambda: False) if cancel is None else cancel
    have = set(done.batches) if done is not None else set()
    if batch_size is None:
        todo = [(b, n) for b, n in enumerate(sizes) if b not in have]
        yield from _run_batches(prepared, todo, workers, cancelled)
        return
    target = float(job.settings.target_uncertainty)
    dose_weight = prepared.scale.per_voxel(job.settings.dose_to)

    def reached(total: Snapshot | None) -> bool:
        return total is not None and total.n_batches >= 2 and total.mean_relative_uncertainty(dose_weight) <= target

    total: Snapshot | None = done
    if reached(total):
        return
    b = max(have) + 1 if have else 0
    while not cancelled():
        n_done = 0 if total is None else total.primaries
        todo = []
        for _ in range(workers):
            n = min(batch_size, job.settings.max_primaries - n_done)
            if n <= 0:
                break
            todo.append((b, n))
            n_done += n
            b += 1
        if not todo:
            return
        for snap in _run_batches(prepared, todo, workers, cancelled):
            total = snap if total is None else total + snap
            yield snap
        if reached(total):
            return


def _run_batches(prepared: PreparedJob, todo: list[tuple[int, int]], workers: int,
                 cancelled: Callable[[], bool]) -> Iterator[Snapshot]:
    if workers <= 1 or len(todo) <= 1:
        for b, n in todo:
            if cancelled():
                return
            yield run_batch(prepared, b, n)
        return
    pending = list(todo)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="braggdesk-batch") as pool:
        running = set()
        while pending or running:
            while pending and len(running) < workers and not cancelled():
                b, n = pending.pop(0)
                running.add(pool.submit(run_batch, prepared, b, n))
            if not running:
                return
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: f.result().batches):
                yield fut.result()
