"""Spot-resolved Monte Carlo: the sums of a dose-influence matrix, one block of spots per batch.

The kernel is the dose kernel: the same histories, physics and integer scoring.  What differs is
which spot a history starts from (runs of ``per_spot`` histories per spot instead of drawing
spots by weight) and where its sums go (each spot its own rows, only on the voxels of interest).
A block of consecutive spots is one batch; its random stream is keyed by (seed, DIJ_STREAM, pass,
first spot), so a block gives the same sums wherever it runs and however blocks are spread over
threads, nodes or workers, and a second pass over the spots (more histories) draws new numbers.

The job's plan gives the spots (its weights are ignored: every spot runs the same number of
histories); ``voxel_index`` the flat CT voxels to score.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ..errors import PlanError
from ..model import Job
from ..model.dij import DijBatch
from .device import Device
from .executor import SpotBlock
from .kernel.layout import COUNTER_NAMES, T_ENERGY, T_ENERGY_SQ, TALLY_ROWS
from .simulate import PreparedJob, _host_setup, prepare

DIJ_STREAM = 0x44494A  # "DIJ": keeps Dij streams apart from the dose batches of the same seed
BLOCK_TALLY_BYTES = 192 * 2**20  # one block's tally on the CPU (int64 x TALLY_ROWS per spot and row)
BLOCK_HISTORIES = {"cpu": 40_000, "cuda": 4_000_000}


@dataclass
class PreparedDij:
    """A job prepared for spot-resolved batches: the dose job's kernel arrays plus the row map."""

    prepared: PreparedJob
    voxel_index: np.ndarray  # int64 flat CT voxels of interest, row order
    rows: np.ndarray  # int64 per CT voxel: its row, or -1

    @property
    def n_spots(self) -> int:
        return int(self.prepared.spots_table.protons.size)

    @property
    def n_rows(self) -> int:
        return int(self.voxel_index.size)

    @property
    def protons_per_mu(self) -> np.ndarray:
        """Protons per MU of each spot (the job's plan has 1 MU per spot)."""
        return self.prepared.spots_table.protons


def unit_weight_job(job: Job) -> Job:
    """The job with every spot at 1 MU: the spot table then holds protons per MU, and no spot is
    dropped for a zero weight (the optimiser decides weights; every spot needs its column)."""
    beams = []
    for beam in job.plan.beams:
        layers = [dataclasses.replace(layer, spot_weights=np.ones(layer.n_spots), mu_per_weight=1.0)
                  for layer in beam.layers]
        beams.append(dataclasses.replace(beam, layers=layers))
    return dataclasses.replace(job, plan=dataclasses.replace(job.plan, beams=beams))


def dij_scale(job: Job) -> tuple[np.ndarray, np.ndarray]:
    """(protons per MU of each spot, Gy per MeV of each voxel) of a matrix's job, without a device:
    for the side that merges blocks which ran elsewhere."""
    unit = unit_weight_job(job)
    _, media, table = _host_setup(unit)
    return table.protons.copy(), media.dose_scale(table.total_protons).per_voxel(unit.settings.dose_to)


def prepare_dij(job: Job, voxel_index: np.ndarray, device: Device | None = None) -> PreparedDij:
    """Check the job and the voxels of interest, and set up the device."""
    voxel_index = np.asarray(voxel_index, dtype=np.int64).reshape(-1)
    n_voxels = int(np.prod(job.ct.shape))
    if voxel_index.size == 0:
        raise PlanError("the dose-influence matrix has no voxels to score (no structure voxels on the grid)")
    if voxel_index.min() < 0 or voxel_index.max() >= n_voxels or np.any(np.diff(voxel_index) <= 0):
        raise PlanError("the voxels of a dose-influence matrix must be increasing flat indices into the CT grid")
    prepared = prepare(unit_weight_job(job), device)
    rows = np.full(n_voxels, -1, dtype=np.int64)
    rows[voxel_index] = np.arange(voxel_index.size)
    return PreparedDij(prepared, voxel_index, rows)


def block_size(n_rows: int, per_spot: int, device_kind: str) -> int:
    """Spots per batch: enough histories to keep the device busy, a tally that fits in memory."""
    by_memory = max(1, BLOCK_TALLY_BYTES // (8 * TALLY_ROWS * max(n_rows, 1))) if device_kind == "cpu" else 1 << 30
    by_work = max(1, BLOCK_HISTORIES.get(device_kind, BLOCK_HISTORIES["cpu"]) // max(per_spot, 1))
    return int(max(1, min(by_memory, by_work)))


def blocks(n_spots: int, size: int) -> list[tuple[int, int]]:
    """(first spot, spots) of each block."""
    return [(first, min(size, n_spots - first)) for first in range(0, n_spots, size)]


def block_key(seed: int, pass_index: int, first_spot: int) -> int:
    """The 64-bit key of a block's random stream."""
    state = np.random.SeedSequence(seed, spawn_key=(DIJ_STREAM, pass_index, first_spot)).generate_state(
        1, dtype=np.uint64)
    return int(state[0])


def block_id(pass_index: int, first_spot: int, n_spots_total: int) -> int:
    """A batch number unique within the matrix, so a merge can refuse a block counted twice."""
    return pass_index * n_spots_total + first_spot


def run_block(prepared: PreparedDij, first_spot: int, n_spots: int, per_spot: int, pass_index: int = 0) -> DijBatch:
    """One block of spots, ``per_spot`` histories each: its sums on the voxels of interest."""
    if not (0 <= first_spot and n_spots >= 1 and first_spot + n_spots <= prepared.n_spots):
        raise PlanError(f"spots {first_spot}..{first_spot + n_spots - 1} are not in the plan's {prepared.n_spots}")
    if per_spot < 1:
        raise PlanError(f"histories per spot must be at least 1, got {per_spot}")
    t0 = time.perf_counter()
    job = prepared.prepared.job
    block = SpotBlock(first_spot, n_spots, per_spot, prepared.rows, prepared.n_rows)
    tally = prepared.prepared.executor.run_spots(block_key(job.settings.seed, pass_index, first_spot), block)
    histories = np.zeros(prepared.n_spots, dtype=np.int64)
    histories[first_spot:first_spot + n_spots] = per_spot
    counters = {"primaries": n_spots * per_spot}
    counters.update({name: int(v) for name, v in zip(COUNTER_NAMES, tally.counters)})
    return DijBatch(prepared.n_spots, prepared.n_rows, histories, (tally.slots + first_spot).astype(np.int32),
                    tally.rows.astype(np.int32), tally.sums[:, T_ENERGY].copy(), tally.sums[:, T_ENERGY_SQ].copy(),
                    (block_id(pass_index, first_spot, prepared.n_spots),), time.perf_counter() - t0,
                    prepared.prepared.device.name, job.job_id, counters)


def simulate_dij(job: Job, voxel_index: np.ndarray, per_spot: int, *, device: Device | None = None,
                 cancel: Callable[[], bool] | None = None, prepared: PreparedDij | None = None,
                 pass_index: int = 0) -> Iterator[DijBatch]:
    """Yield the sums of one block of spots per batch until every spot has ``per_spot`` histories.

    ``cancel`` is polled before each block; the blocks yielded so far are kept by the caller.
    """
    prepared = prepared or prepare_dij(job, voxel_index, device)
    size = block_size(prepared.n_rows, per_spot, prepared.prepared.device.kind)
    for first, n in blocks(prepared.n_spots, size):
        if cancel is not None and cancel():
            return
        yield run_block(prepared, first, n, per_spot, pass_index)
