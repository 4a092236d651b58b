"""Running batches of histories on a device: the compiled kernel behind a small Python object.

An executor is built once per prepared job (on a GPU it copies the job's arrays to the device
then) and runs one batch per call: ``run(key, n)`` returns a :class:`BatchTally`, the sums of the
voxels the batch touched.  The grid-sized tally stays with the executor and only its touched
voxels are cleared, so a batch costs no grid-sized allocation.  Python decides what to run; the
kernel runs it, with no Python per history or per step.
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
        self._lock = threading.Lock()  # one batch at a time uses the tally (Dask may call from several threads)

    def run(self, key: int, n_histories: int) -> BatchTally:
        import numba  # noqa: PLC0415

        from .kernel.cpu import run_histories  # noqa: PLC0415

        inp = self.inputs
        counters = np.zeros(N_COUNTERS, dtype=np.int64)
        with self._lock:
            if self._tally is None:
                self._tally = np.zeros(TALLY_ROWS * inp.n_voxels, dtype=np.int64)
            if n_histories > 0:
                threads = min(self.device.threads, numba.config.NUMBA_NUM_THREADS)
                chunks = max(1, min(n_histories, threads * CHUNKS_PER_THREAD))
                key_lo, key_hi = split_key(key)
                with _CPU_LAUNCH:
                    numba.set_num_threads(threads)
                    run_histories(0, n_histories, chunks, key_lo, key_hi, inp.header, inp.tables, inp.voxels,
                                  inp.spots, inp.spot_cdf, inp.beams, self._tally, counters)
            voxels, rows = take_touched(self._tally)
        return BatchTally(voxels, rows, counters, inp.n_voxels)


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
            props = cuda.get_current_device()
            self._max_blocks = int(props.MULTIPROCESSOR_COUNT) * 16
        except Exception as exc:  # out of memory, driver errors
            raise DeviceError(f"the GPU could not take the job ({inputs.nbytes / 1e6:.0f} MB of tables and "
                              f"voxels): {exc}") from exc

    def run(self, key: int, n_histories: int) -> BatchTally:
        key_lo, key_hi = split_key(key)
        with self._lock:
            return self._run(key_lo, key_hi, n_histories)

    def _run(self, key_lo: int, key_hi: int, n_histories: int) -> BatchTally:
        from numba import cuda  # noqa: PLC0415

        from .kernel.cuda import THREADS_PER_BLOCK, run_histories  # noqa: PLC0415

        try:
            self._tally[:] = 0
            self._counters[:] = 0
            if n_histories > 0:
                blocks = max(1, min(self._max_blocks, -(-n_histories // THREADS_PER_BLOCK)))
                run_histories[blocks, THREADS_PER_BLOCK](0, n_histories, key_lo, key_hi, *self._arrays,
                                                         self._tally, self._counters)
                cuda.synchronize()
            tally = self._tally.copy_to_host()
            counters = self._counters.copy_to_host()
        except Exception as exc:  # a GPU that fails mid-run: the caller keeps the batches done
            raise DeviceError(f"the GPU failed during a batch of {n_histories} histories: {exc}") from exc
        voxels, rows = take_touched(tally)
        return BatchTally(voxels, rows, counters, self.inputs.n_voxels)


def make_executor(inputs: KernelInputs, device: Device):
    return CudaExecutor(inputs, device) if device.is_gpu else CpuExecutor(inputs, device)
