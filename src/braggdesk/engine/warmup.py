"""Getting the compiled kernel ready before the first batch needs it.

The first use of the kernel in a process loads it from the disk cache (about half a second), or, on
a machine's first run, compiles it (tens of seconds).  :func:`warm_up` does that with empty arrays of
the right types, so an application can do it in the background at start-up and the user's first
Start shows a dose at once; :func:`kernel_is_cached` says beforehand whether it will be a compile.
"""

from __future__ import annotations

import time

import numpy as np

from .executor import NO_ROWS
from .kernel.layout import BEAM_FIELDS, HEADER_SIZE, N_COUNTERS, SPOT_FIELDS, TALLY_ROWS, VOXEL_FIELDS


def kernel_is_cached() -> bool:
    """True if the CPU kernel of this version is in the disk cache (no compile needed)."""
    from .kernel.cache import kernel_cache_folder  # noqa: PLC0415

    folder = kernel_cache_folder()
    return folder is not None and any(folder.glob("*/cpu.run_histories*.nbi"))


def warm_up() -> float:
    """Load (or compile) the CPU kernel now; returns the seconds it took."""
    from .kernel.cpu import run_histories  # noqa: PLC0415

    t0 = time.perf_counter()
    run_histories(0, 0, 1, 0, 0, np.zeros(HEADER_SIZE), np.zeros(1, np.float32),
                  np.zeros((1, VOXEL_FIELDS), np.float32), np.zeros((1, SPOT_FIELDS)), np.ones(1),
                  np.zeros((1, BEAM_FIELDS)), np.zeros(TALLY_ROWS, np.int64), NO_ROWS, np.zeros(N_COUNTERS, np.int64),
                  0, 0, 0)
    return time.perf_counter() - t0
