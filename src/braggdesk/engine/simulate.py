"""The engine's public entry: ``simulate(job)`` yields a Snapshot after every batch.

Python decides what to run (batches, when to stop, cancel); the compiled kernel runs it
(:mod:`.kernel`, on the CPU cores or a GPU).  Batch ``b``'s random stream is keyed by
``SeedSequence(seed, spawn_key=(b,))`` and history ``h`` of it draws from the Philox counter
(h, draw), so a batch gives the same sums wherever it runs (any thread count, an SSH node, a
cluster worker).  Cancelling between batches keeps everything done so far: the caller simply
stops iterating, or passes ``cancel``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from ..errors import PlanError
from ..model import Accumulator, DoseScale, Job, Snapshot
from ..model.snapshot import ENERGY_QUANTUM_MEV
from .device import Device, select_device
from .executor import make_executor
from .geometry import GridFrame
from .kernel.layout import COUNTER_NAMES, T_ENERGY, T_ENERGY_SQ, T_LET, T_NUCLEAR_LOCAL
from .media import Media, build_media
from .memory import tune_memory
from .packing import KernelInputs, pack
from .source import SpotTable, build_spot_table

DEFAULT_PRIMARIES_PER_BATCH = {"cpu": 50_000, "cuda": 2_000_000}


@dataclass
class PreparedJob:
    """What a job turns into on one device: media, spots, the kernel's arrays and an executor.
    Built once, used for every batch."""

    job: Job
    device: Device
    media: Media
    spots_table: SpotTable
    inputs: KernelInputs
    executor: object
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


def prepare(job: Job, device: Device | None = None) -> PreparedJob:
    """Check the job, build its media and spots, pack the kernel's arrays and set up the device."""
    tune_memory()
    device = device or select_device(job.settings.device, getattr(job.settings, "threads", None))
    notes = check_frame_of_reference(job)
    if device.note:
        notes.append(device.note)
    grid, media, table = _host_setup(job)
    notes.extend(media.notes)
    notes.extend(table.notes)
    inputs = pack(media, grid, table, nuclear=job.settings.nuclear, score_let=job.settings.score_let)
    if getattr(job.settings, "engine", "full") == "track-repeat":  # jobs pickled before the field existed: full
        from .tracks.prepare import track_executor  # noqa: PLC0415

        executor = track_executor(job, inputs, table, device, notes)
    else:
        executor = make_executor(inputs, device)
    return PreparedJob(job, device, media, table, inputs, executor, media.dose_scale(table.total_protons), notes)


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
    """The 64-bit key of batch ``batch_index``'s random stream: SeedSequence(seed, spawn_key=(batch,))."""
    state = np.random.SeedSequence(seed, spawn_key=(batch_index,)).generate_state(1, dtype=np.uint64)
    return int(state[0])


def run_batch(prepared: PreparedJob, batch_index: int, n_primaries: int) -> Snapshot:
    """One batch, start to end, on the prepared device: a (sparse) Snapshot of its sums."""
    t0 = time.perf_counter()
    batch = prepared.executor.run(batch_seed(prepared.job.settings.seed, batch_index), n_primaries)
    energy = batch.rows[:, T_ENERGY].copy()
    e_mev = energy * ENERGY_QUANTUM_MEV
    counters = {"primaries": int(n_primaries)}
    counters.update({name: int(v) for name, v in zip(COUNTER_NAMES, batch.counters)})
    return Snapshot(
        primaries=n_primaries,
        energy=energy,
        energy_sq=batch.rows[:, T_ENERGY_SQ].copy(),
        batch_sq_sum=e_mev * e_mev / max(n_primaries, 1),
        let_numerator=batch.rows[:, T_LET].copy(),
        let_energy=energy - batch.rows[:, T_NUCLEAR_LOCAL],
        batches=(batch_index,),
        compute_seconds=time.perf_counter() - t0,
        device=prepared.device.name,
        job_id=prepared.job.job_id,
        notes=tuple(prepared.notes),
        counters=counters,
        voxels=batch.voxels,
        n_voxels=batch.n_voxels,
    )


def plan_batches(settings, device_kind: str) -> tuple[list[int], int | None]:
    """Primaries per batch for a fixed-count job (list), or the batch size for a target-uncertainty job."""
    if settings.primaries is not None and settings.target_uncertainty is None:
        first = getattr(settings, "first_batch_primaries", None)  # jobs pickled before the field existed
        k = min(settings.batches, settings.primaries)
        if first is not None and k > 1 and first < settings.primaries // k:
            return [first] + _split(settings.primaries - first, k - 1), None
        return _split(settings.primaries, k), None
    size = settings.primaries_per_batch or DEFAULT_PRIMARIES_PER_BATCH[device_kind]
    return [], int(size)


def _split(n: int, k: int) -> list[int]:
    base, extra = divmod(n, k)
    return [base + (1 if b < extra else 0) for b in range(k)]


def simulate(job: Job, *, device: Device | None = None, cancel: Callable[[], bool] | None = None,
             prepared: PreparedJob | None = None, done: Snapshot | None = None,
             accumulator: Accumulator | None = None) -> Iterator[Snapshot]:
    """Yield one Snapshot (the sums of that batch alone) per batch, as batches finish.

    Merge them by addition (exact in any order).  Each batch runs on all of the device (every
    CPU core, or the whole GPU), one after another.  With a target uncertainty, batches run until
    the mean relative uncertainty over voxels above 50 % of the maximum dose reaches it (or
    ``max_primaries``).  ``cancel`` is polled before each batch starts; what is done is kept:
    the caller has every Snapshot yielded so far.  A device that fails mid-run raises
    DeviceError after the batches before it were yielded.

    ``done`` resumes a job: the sums of batches already computed (e.g. kept on disk by a
    remote node whose process died).  Those batches are not run again and not yielded;
    the batches that remain are exactly those a fresh run would have added.

    ``accumulator``: every yielded batch is merged into it before it is yielded (a runner that keeps
    the total passes its own, so the total and its uncertainty are made once per batch).
    """
    prepared = prepared or prepare(job, device)
    sizes, batch_size = plan_batches(job.settings, prepared.device.kind)
    cancelled = (lambda: False) if cancel is None else cancel
    have = set(done.batches) if done is not None else set()
    if batch_size is None:
        for b, n in enumerate(sizes):
            if b in have:
                continue
            if cancelled():
                return
            snap = run_batch(prepared, b, n)
            if accumulator is not None:
                accumulator.add(snap)
            yield snap
        return
    target = float(job.settings.target_uncertainty)
    dose_weight = prepared.scale.per_voxel(job.settings.dose_to)
    acc = accumulator if accumulator is not None else Accumulator()
    if done is not None:
        acc.add(done)
    b = max(have) + 1 if have else 0
    while acc.total is None or acc.total.n_batches < 2 or acc.mean_relative_uncertainty(dose_weight) > target:
        n = min(batch_size, job.settings.max_primaries - (0 if acc.total is None else acc.total.primaries))
        if n <= 0 or cancelled():
            return
        snap = run_batch(prepared, b, n)
        acc.add(snap)
        b += 1
        yield snap
