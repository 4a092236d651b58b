"""One history: a primary from the source, then every secondary it sets off, then its scores.

Secondaries wait on a small stack (last in, first out) while their parent is followed; when the
history is done its voxel sums go to the tallies (:mod:`.scoring`).  The random stream is
(key, history): nothing another history does changes this one's numbers.

For a dose, the spot is drawn by its weight.  For a dose-influence matrix (``per_spot`` > 0),
histories come in runs of ``per_spot`` per spot from ``first_spot`` on, and each spot's sums go to
its own block of ``rows_per_spot`` tally rows.
"""

from __future__ import annotations

from .adapt import kernel_function
from .layout import P_E, P_MASS, P_U, P_V, P_W, P_X, P_Y, P_Z
from .scoring import flush
from .source import start_history
from .track import transport


@kernel_function
def run_history(history, key_lo, key_hi, header, tables, voxels, spots, spot_cdf, beams, rng, stack, segments, acc,
                tally, rows, counters, first_spot, per_spot, rows_per_spot):
    alive, x, y, z, u, v, w, e = start_history(history, key_lo, key_hi, header, tables, spots, spot_cdf, beams, rng,
                                               acc, counters, first_spot, per_spot, rows_per_spot)
    if not alive:
        return
    n_stack = transport(header, tables, voxels, rng, stack, 0, acc, tally, rows, counters, segments, True,
                        x, y, z, u, v, w, e, 1.0)
    while n_stack > 0:
        n_stack -= 1
        n_stack = transport(header, tables, voxels, rng, stack, n_stack, acc, tally, rows, counters, segments, False,
                            stack[n_stack, P_X], stack[n_stack, P_Y], stack[n_stack, P_Z], stack[n_stack, P_U],
                            stack[n_stack, P_V], stack[n_stack, P_W], stack[n_stack, P_E], stack[n_stack, P_MASS])
    flush(acc, tally, rows)
