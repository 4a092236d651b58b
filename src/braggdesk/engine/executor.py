"""Running batches of histories on a device: the compiled kernel behind a small Python object.

An executor is built once per prepared job (on a GPU it copies the job's arrays to the device
then) and runs one batch per call: ``run(key, n) -> (tally, counters)`` as numpy int64 arrays.
Python decides what to run; the kernel runs it, with no Python per history or per step.
"""

from __future__ import annotations

import threading

import numpy as np

from ..errors import DeviceError
from .device import Device
from .kernel.layout import N_COUNTERS, TALLY_ROWS
from .packing import KernelInputs

# Numba's default thread pool (workqueue) must not be entered from two Python threads at once;
# each batch uses every core it is given, so batches run one after another in a process.
_CPU_LAUNCH = threading.Lock()
CHUNKS_PER_THREAD = 4


def split_key(key: int) -> tuple[int, int]:
    """A 64-bit stream key as the two 32-bit halves of a Philox key."""
    return key & 0xFFFFFFFF, (key >> 32) & 0xFFFFFFFF


class CpuExecutor:
    def __init__(self, inputs: KernelInputs, device: Device):
        self.inputs = inputs
        self.device = device

    def run(self, key: int, n_histories: int) -> tuple[np.ndarray, np.ndarray]:
        import numba  # noqa: PLC0415

        from .kernel.cpu import run_histories  # noqa: PLC0415

        inp = self.inputs
        tally = np.zeros(TALLY_ROWS * inp.n_voxels, dtype=np.int64)
        counters = np.zeros(N_COUNTERS, dtype=np.int64)
        if n_histories <= 0:
            return tally.reshape(TALLY_ROWS, -1), counters
        threads = min(self.device.threads, numba.config.NUMBA_NUM_THREADS)
        chunks = max(1, min(n_histories, threads * CHUNKS_PER_THREAD))
        key_lo, key_hi = split_key(key)
        with _CPU_LAUNCH:
            numba.set_num_threads(threads)
            run_histories(0, n_histories, chunks, key_lo, key_hi, inp.header, inp.tables, inp.voxels, inp.spots,
                          inp.spot_cdf, inp.beams, tally, counters)
        return tally.reshape(TALLY_ROWS, -1), counters


class CudaExecutor:
    """The job's arrays live on the GPU for the executor's lifetime; tallies are zeroed per batch."""

    def __init__(self, inputs: KernelInputs, device: Device):
        from numba import cuda  # noqa: PLC0415

        self.inputs = inputs
        self.device = device
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

    def run(self, key: int, n_histories: int) -> tuple[np.ndarray, np.ndarray]:
        from numba import cuda  # noqa: PLC0415

        from .kernel.cuda import THREADS_PER_BLOCK, run_histories  # noqa: PLC0415

        key_lo, key_hi = split_key(key)
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
        return tally.reshape(TALLY_ROWS, -1), counters


def make_executor(inputs: KernelInputs, device: Device):
    return CudaExecutor(inputs, device) if device.is_gpu else CpuExecutor(inputs, device)
