"""The track-repeating kernel on CPU cores: :func:`.retrace.run_retrace_history` for chunks of histories
in parallel, with the same scratch and integer-atomic tallies as :mod:`.cpu` (bit-identical results for
any thread count)."""

from __future__ import annotations

import numpy as np
from numba import prange

from .adapt import atomic_add, cached_jit
from .layout import ACC_ROWS, ACC_SLOTS_CPU, N_COUNTERS, PARTICLE_FIELDS, STACK_SIZE
from .retrace import run_retrace_history
from .rng import RNG_STATE_SIZE
from .scoring import reset_accumulator


@cached_jit(parallel=True, nogil=True)
def retrace_histories(first_history, n_histories, n_chunks, key_lo, key_hi, header, tables, voxels, spots, spot_cdf,
                      beams, db_records, db_offsets, db_energies, tally, rows, counters,
                      first_spot, per_spot, rows_per_spot):
    """Histories first_history .. first_history + n_histories - 1, split into n_chunks tasks (the arguments
    of :func:`.cpu.run_histories` plus the packed track database)."""
    per_chunk = (n_histories + n_chunks - 1) // n_chunks
    for chunk in prange(n_chunks):
        rng = np.zeros(RNG_STATE_SIZE)
        stack = np.zeros((STACK_SIZE, PARTICLE_FIELDS))
        acc = np.zeros((ACC_ROWS, ACC_SLOTS_CPU + 1), dtype=np.int64)
        reset_accumulator(acc)
        chunk_counters = np.zeros(N_COUNTERS, dtype=np.int64)
        start = chunk * per_chunk
        stop = min(n_histories, start + per_chunk)
        for h in range(start, stop):
            run_retrace_history(first_history + h, key_lo, key_hi, header, tables, voxels, spots, spot_cdf, beams,
                                db_records, db_offsets, db_energies, rng, stack, acc, tally,
                                rows, chunk_counters, first_spot, per_spot, rows_per_spot)
        for k in range(N_COUNTERS):
            atomic_add(counters, k, chunk_counters[k])
