"""Running batches of histories on a device: the compiled kernel behind a small Python object.

An executor is built once per prepared job (on a GPU it copies the job's arrays to the device
then) and runs one batch per call: ``run(key, n)`` returns a :class:`BatchTally`, the sums of the
voxels the batch touched.  The grid-sized tally stays with the executor and only its touched
voxels are cleared, so a batch costs no grid-sized allocation.  Python decides what to run; the
kernel runs it, with no Python per history or per step.

``run_spots`` is the spot-resolved variant for dose-influence matrices: a run of histories per spot
for a block of consecutive spots, each spot's sums on the voxels of interest in its own rows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..errors import DeviceError
from .device import Device
from .kernel.layout import N_COUNTERS, TALLY_ROWS
from .packing import KernelInputs

# Numba's default thread pool (workqueue) must not be entered from two Python threads at once;
# each batch uses every core it is given, so batches run one after another in a process.
_CPU_LAUNCH = threading.Lock()
CHUNKS_PER_THREAD = 4
NO_ROWS = np.zeros(0, dtype=np.int64)  # the kernel's voxel -> row map for a dose: empty, row = voxel


@dataclass
class SpotBlock:
    """Which spots a spot-resolved batch runs: ``n_spots`` from ``first_spot``, ``per_spot`` histories
    each, their sums on the voxels whose ``rows`` entry is not -1 (``n_rows`` of them)."""

    first_spot: int
    n_spots: int
    per_spot: int
    rows: np.ndarray  # int64 per voxel: row among the voxels of interest, or -1
    n_rows: int

    @property
    def n_histories(self) -> int:
        return self.n_spots * self.per_spot


@dataclass
class SpotBlockTally:
    """The sums of a spot-resolved batch: entry k is spot ``first_spot + slots[k]``, row ``rows[k]``."""

    slots: np.ndarray  # int64, sorted by (slot, row)
    rows: np.ndarray  # int64
    sums: np.ndarray  # int64 [k, TALLY_ROWS]
    counters: np.ndarray


@dataclass
class BatchTally:
    """The sums of one batch: ``rows[k, T_*]`` of voxel ``voxels[k]`` (sorted), and the counters."""

    voxels: np.ndarray  # int64
    rows: np.ndarray  # int64 [len(voxels), TALLY_ROWS]
    counters: np.ndarray  # int64 [N_COUNTERS]
    n_voxels: int

    def dense(self, row: int) -> np.ndarray:
        """One sum (a T_* row) on the whole grid."""
        out = np.zeros(self.n_voxels, dtype=np.int64)
        out[self.voxels] = self.rows[:, row]
        return out


def take_touched(tally: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(voxels with a non-zero sum, their rows) of a flat [voxel, TALLY_ROWS] tally, which is left zero."""
    grid = tally.reshape(-1, TALLY_ROWS)
    hit = grid[:, 0] != 0
    for row in range(1, TALLY_ROWS):
        hit |= grid[:, row] != 0
    voxels = np.flatnonzero(hit)
    rows = grid[voxels]
    grid[voxels] = 0
    return voxels, rows


def split_key(key: int) -> tuple[int, int]:
    """A 64-bit stream key as the two 32-bit halves of a Philox key."""
    return key & 0xFFFFFFFF, (key >> 32) & 0xFFFFFFFF


class CpuExecutor:
    def __init__(self, inputs: KernelInputs, device: Device):
        self.inputs = inputs
        self.device = device
        self._tally: np.ndarray | None = None  # made on the first batch, kept zero between batches
        self._block_tally: np.ndarray | None = None  # the same for spot-resolved batches
        self._lock = threading.Lock()  # one batch at a time uses the tally (Dask may call from several threads)

    def run(self, key: int, n_histories: int) -> BatchTally:
        inp = self.inputs
        counters = np.zeros(N_COUNTERS, dtype=np.int64)
        with self._lock:
            if self._tally is None:
                self._tally = np.zeros(TALLY_ROWS * inp.n_voxels, dtype=np.int64)
            self._launch(key, n_histories, self._tally, NO_ROWS, counters, 0, 0, 0)
            voxels, rows = take_touched(self._tally)
        return BatchTally(voxels, rows, counters, inp.n_voxels)

    def run_spots(self, key: int, block: SpotBlock) -> SpotBlockTally:
        counters = np.zeros(N_COUNTERS, dtype=np.int64)
        size = TALLY_ROWS * block.n_spots * block.n_rows
        with self._lock:
            if self._block_tally is None or self._block_tally.size < size:
                self._block_tally = np.zeros(size, dtype=np.int64)
            tally = self._block_tally[:size]
            self._launch(key, block.n_histories, tally, block.rows, counters, block.first_spot, block.per_spot,
                         block.n_rows)
            flat, sums = take_touched(tally)
        return SpotBlockTally(flat // block.n_rows, flat % block.n_rows, sums, counters)

    def _kernel(self):
        """The compiled CPU kernel this executor launches (the track-repeating executor names its own)."""
        from .kernel.cpu import run_histories  # noqa: PLC0415

        return run_histories

    def _extra_arrays(self) -> tuple:
        """Arrays the kernel takes between the job's and the tally (the track database for track repeating)."""
        return ()

    def _launch(self, key: int, n_histories: int, tally: np.ndarray, rows: np.ndarray, counters: np.ndarray,
                first_spot: int, per_spot: int, rows_per_spot: int) -> None:
        import numba  # noqa: PLC0415

        if n_histories <= 0:
            return
        kernel = self._kernel()
        inp = self.inputs
        threads = min(self.device.threads, numba.config.NUMBA_NUM_THREADS)
        chunks = max(1, min(n_histories, threads * CHUNKS_PER_THREAD))
        key_lo, key_hi = split_key(key)
        with _CPU_LAUNCH:
            numba.set_num_threads(threads)
            kernel(0, n_histories, chunks, key_lo, key_hi, inp.header, inp.tables, inp.voxels, inp.spots,
                   inp.spot_cdf, inp.beams, *self._extra_arrays(), tally, rows, counters, first_spot, per_spot,
                   rows_per_spot)


class CudaExecutor:
    """The job's arrays live on the GPU for the executor's lifetime; tallies are zeroed per batch."""

    def __init__(self, inputs: KernelInputs, device: Device):
        from numba import cuda  # noqa: PLC0415

        self.inputs = inputs
        self.device = device
        self._lock = threading.Lock()
        try:
            self._arrays = tuple(cuda.to_device(a) for a in (inputs.header, inputs.tables, inputs.voxels, inputs.spots,
                                                              inputs.spot_cdf, inputs.beams))
            self._tally = cuda.device_array(TALLY_ROWS * inputs.n_voxels, dtype=np.int64)
            self._counters = cuda.device_array(N_COUNTERS, dtype=np.int64)
            self._no_rows = cuda.device_array(0, dtype=np.int64)
            self._block_tally = None
            self._block_rows = None
            self._block_rows_host = None
            props = cuda.get_current_device()
            self._max_blocks = int(getattr(props, "MULTIPROCESSOR_COUNT", 1)) * 16  # (the CUDA simulator has none)
        except Exception as exc:  # out of memory, driver errors
            raise DeviceError(f"the GPU could not take the job ({inputs.nbytes / 1e6:.0f} MB of tables and "
                              f"voxels): {exc}") from exc

    def run(self, key: int, n_histories: int) -> BatchTally:
        with self._lock:
            tally, counters = self._launch(key, n_histories, self._tally, self._no_rows, 0, 0, 0)
        voxels, rows = take_touched(tally)
        return BatchTally(voxels, rows, counters, self.inputs.n_voxels)

    def run_spots(self, key: int, block: SpotBlock) -> SpotBlockTally:
        from numba import cuda  # noqa: PLC0415

        size = TALLY_ROWS * block.n_spots * block.n_rows
        with self._lock:
            try:
                if self._block_tally is None or self._block_tally.size < size:
                    self._block_tally = cuda.device_array(size, dtype=np.int64)
                if self._block_rows_host is not block.rows:
                    self._block_rows = cuda.to_device(block.rows)
                    self._block_rows_host = block.rows
            except Exception as exc:
                raise DeviceError(f"the GPU could not hold a block of {block.n_spots} spots x {block.n_rows} "
                                  f"voxels ({size * 8 / 1e6:.0f} MB): {exc}") from exc
            tally, counters = self._launch(key, block.n_histories, self._block_tally[:size], self._block_rows,
                                           block.first_spot, block.per_spot, block.n_rows)
        flat, sums = take_touched(tally)
        return SpotBlockTally(flat // block.n_rows, flat % block.n_rows, sums, counters)

    #: what a batch runs, for the error message of a GPU that fails during one
    histories_label = "histories"

    def _kernel(self):
        """(threads per block, the CUDA kernel) this executor launches (the track-repeating one names its own)."""
        from .kernel.cuda import THREADS_PER_BLOCK, run_histories  # noqa: PLC0415

        return THREADS_PER_BLOCK, run_histories

    def _extra_arrays(self) -> tuple:
        """Device arrays the kernel takes between the job's and the tally (the track database)."""
        return ()

    def _launch(self, key: int, n_histories: int, tally, rows, first_spot: int, per_spot: int,
                rows_per_spot: int) -> tuple[np.ndarray, np.ndarray]:
        from numba import cuda  # noqa: PLC0415

        threads_per_block, kernel = self._kernel()
        key_lo, key_hi = split_key(key)
        try:
            tally[:] = 0
            self._counters[:] = 0
            if n_histories > 0:
                blocks = max(1, min(self._max_blocks, -(-n_histories // threads_per_block)))
                kernel[blocks, threads_per_block](0, n_histories, key_lo, key_hi, *self._arrays, *self._extra_arrays(),
                                                  tally, rows, self._counters, first_spot, per_spot, rows_per_spot)
                cuda.synchronize()
            return tally.copy_to_host(), self._counters.copy_to_host()
        except Exception as exc:  # a GPU that fails mid-run: the caller keeps the batches done
            raise DeviceError(f"the GPU failed during a batch of {n_histories} {self.histories_label}: {exc}") from exc


def make_executor(inputs: KernelInputs, device: Device):
    return CudaExecutor(inputs, device) if device.is_gpu else CpuExecutor(inputs, device)
