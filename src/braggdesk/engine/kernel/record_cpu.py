"""Recording a track database on the CPU cores: histories in parallel (``prange``), each into its own
fixed-size record buffer, which the host compacts.  Every history has its own counter-based random
stream (:mod:`.rng`), so the database is the same bit for bit for any number of threads."""

from __future__ import annotations

import numpy as np
from numba import prange

from .adapt import cached_jit
from .layout import (ACC_ROWS, ACC_SLOTS_CPU, MAX_SEGMENTS, N_COUNTERS, PARTICLE_FIELDS, SEGMENT_FIELDS, STACK_SIZE,
                     TALLY_ROWS)
from .record import record_history
from .rng import RNG_STATE_SIZE
from .scoring import reset_accumulator


@cached_jit(parallel=True, nogil=True)
def record_histories(first_history, n_histories, key_lo, key_hi, header, tables, voxels, energy, out, counts, counters):
    """Histories first_history .. + n_histories - 1 of one energy into ``out[h]``; ``counts[h]``: records
    written (-1: the buffer was too small)."""
    n_chunks = min(n_histories, 64)
    per_chunk = (n_histories + n_chunks - 1) // n_chunks
    rows = np.zeros(0, dtype=np.int64)
    chunk_counters = np.zeros((n_chunks, N_COUNTERS), dtype=np.int64)
    for chunk in prange(n_chunks):
        rng = np.zeros(RNG_STATE_SIZE)
        stack = np.zeros((STACK_SIZE, PARTICLE_FIELDS))
        segments = np.zeros((MAX_SEGMENTS, SEGMENT_FIELDS))
        acc = np.zeros((ACC_ROWS, ACC_SLOTS_CPU + 1), dtype=np.int64)
        reset_accumulator(acc)
        tally = np.zeros(TALLY_ROWS, dtype=np.int64)
        start = chunk * per_chunk
        stop = min(n_histories, start + per_chunk)
        for h in range(start, stop):
            counts[h] = record_history(first_history + h, key_lo, key_hi, header, tables, voxels, energy, rng, stack,
                                       segments, acc, tally, rows, chunk_counters[chunk], out[h])
    for chunk in range(n_chunks):
        for k in range(N_COUNTERS):
            counters[k] += chunk_counters[chunk, k]
