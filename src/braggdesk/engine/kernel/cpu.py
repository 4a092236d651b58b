"""The kernel on CPU cores: histories in parallel (Numba ``prange``), one chunk of consecutive
histories per task, each chunk with its own scratch (random stream state, stack, voxel sums,
counters).  Tallies are integer atomics, so the result is the same bit for bit whatever the number
of threads; the threads only decide which core runs which chunk.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .adapt import atomic_add, cached_jit
from .history import run_history
from .layout import ACC_ROWS, ACC_SLOTS_CPU, MAX_SEGMENTS, N_COUNTERS, PARTICLE_FIELDS, SEGMENT_FIELDS, STACK_SIZE
from .rng import RNG_STATE_SIZE
from .scoring import reset_accumulator


@cached_jit(parallel=True, nogil=True)
def run_histories(first_history, n_histories, n_chunks, key_lo, key_hi, header, tables, voxels, spots, spot_cdf,
                  beams, tally, rows, counters, first_spot, per_spot, rows_per_spot):
    """Histories first_history .. first_history + n_histories - 1, split into n_chunks tasks.

    ``rows``, ``first_spot``, ``per_spot``, ``rows_per_spot``: spot-resolved scoring for a
    dose-influence matrix (:mod:`.history`); an empty ``rows`` and ``per_spot`` = 0 for a dose."""
    per_chunk = (n_histories + n_chunks - 1) // n_chunks
    for chunk in prange(n_chunks):
        rng = np.zeros(RNG_STATE_SIZE)
        stack = np.zeros((STACK_SIZE, PARTICLE_FIELDS))
        segments = np.zeros((MAX_SEGMENTS, SEGMENT_FIELDS))
        acc = np.zeros((ACC_ROWS, ACC_SLOTS_CPU + 1), dtype=np.int64)
        reset_accumulator(acc)
        chunk_counters = np.zeros(N_COUNTERS, dtype=np.int64)
        start = chunk * per_chunk
        stop = min(n_histories, start + per_chunk)
        for h in range(start, stop):
            run_history(first_history + h, key_lo, key_hi, header, tables, voxels, spots, spot_cdf, beams, rng, stack,
                        segments, acc, tally, rows, chunk_counters, first_spot, per_spot, rows_per_spot)
        for k in range(N_COUNTERS):
            atomic_add(counters, k, chunk_counters[k])
