"""The track-repeating kernel on an NVIDIA GPU: one thread per history in a grid-stride loop, the same
:func:`.retrace.run_retrace_history` as on the CPU (compiled again as device functions), the scratch in
thread-local memory as in :mod:`.cuda`.  Imported only when a GPU run is asked for."""

from __future__ import annotations

from numba import cuda, float64, int64

from .adapt import atomic_add, register_cuda
from .cache import numba_cache_dir
from .layout import ACC_ROWS, ACC_SLOTS_GPU, N_COUNTERS, PARTICLE_FIELDS, STACK_SIZE
from .retrace import run_retrace_history
from .rng import RNG_STATE_SIZE
from .scoring import reset_accumulator

register_cuda()

THREADS_PER_BLOCK = 128
_STACK_SHAPE = (STACK_SIZE, PARTICLE_FIELDS)
_ACC_SHAPE = (ACC_ROWS, ACC_SLOTS_GPU + 1)


def _retrace_histories(first_history, n_histories, key_lo, key_hi, header, tables, voxels, spots, spot_cdf, beams,
                       db_records, db_offsets, db_energies, tally, rows, counters, first_spot,
                       per_spot, rows_per_spot):
    rng = cuda.local.array(RNG_STATE_SIZE, float64)
    stack = cuda.local.array(_STACK_SHAPE, float64)
    acc = cuda.local.array(_ACC_SHAPE, int64)
    thread_counters = cuda.local.array(N_COUNTERS, int64)
    for k in range(N_COUNTERS):
        thread_counters[k] = 0
    reset_accumulator(acc)
    h = cuda.grid(1)
    stride = cuda.gridsize(1)
    while h < n_histories:
        run_retrace_history(first_history + h, key_lo, key_hi, header, tables, voxels, spots, spot_cdf, beams,
                            db_records, db_offsets, db_energies, rng, stack, acc, tally, rows,
                            thread_counters, first_spot, per_spot, rows_per_spot)
        h += stride
    for k in range(N_COUNTERS):
        if thread_counters[k] != 0:
            atomic_add(counters, k, thread_counters[k])


with numba_cache_dir() as _can_cache:
    retrace_histories = cuda.jit(_retrace_histories, cache=_can_cache)
"""The compiled CUDA kernel; launch as ``retrace_histories[blocks, THREADS_PER_BLOCK](...)``."""
