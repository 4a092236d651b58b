"""Scoring: a history's deposits summed per voxel, then added to the tallies when it ends.

Why per history: the statistical uncertainty is estimated history by history (Walters,
Kawrakow and Rogers, Med. Phys. 29 (2002) 2745), var(mean) = (sum X^2 / N - (sum X / N)^2) / (N - 1)
with X the energy one primary *and all its secondaries* leave in the voxel.  Squaring pieces of
a history separately (a secondary's deposit apart from its parent's, a track that comes back)
would call correlated pieces independent.  So each history keeps a small open-addressing table
voxel -> (energy, LET numerator), and at its end every touched voxel gets X and X^2 added once.

Deposits are integers of ``ENERGY_QUANTUM`` (1 eV) rounded step by step, so sums are exact and
independent of order; X^2 is counted in quanta of 1e-6 MeV^2 (see model.snapshot).  If one
history touches more than 3/4 of the table's slots (a very long history on a fine grid), the
table is flushed early and the rest of the history is scored as if it were another; the
``early_flushes`` counter says how often.

The same scoring serves dose-influence matrices: there ``rows`` maps a voxel to its row among the
voxels of interest (or -1) and the history's spot has its own block of rows, so a voxel's sums land
at (spot slot x rows per spot + row).  For a dose ``rows`` is empty and the row is the voxel.
"""

from __future__ import annotations

from .adapt import atomic_add, kernel_function, kernel_leaf
from .layout import (ACC_ENERGY, ACC_LET, ACC_ROW_OFFSET, ACC_USED, ACC_VOXEL, C_EARLY_FLUSH, T_ENERGY,
                     T_ENERGY_SQ, T_LET, T_NUCLEAR_LOCAL, TALLY_ROWS)

QUANTA_PER_MEV = 1e6  # model.snapshot.ENERGY_QUANTUM_MEV = 1e-6
SQ_QUANTA_DIVISOR = 1_000_000  # (q eV)^2 = q^2 1e-12 MeV^2 = q^2 / 1e6 quanta of 1e-6 MeV^2
_HASH_MULTIPLIER = 2654435761  # Knuth's multiplicative hash


@kernel_leaf
def quanta(energy_mev):
    """Energy in integer quanta, rounded to nearest."""
    return int(energy_mev * QUANTA_PER_MEV + 0.5)


@kernel_function
def reset_accumulator(acc):
    """Mark every slot empty (once per scratch array; flushes clear only the slots they used)."""
    slots = acc.shape[1] - 1
    for h in range(slots):
        acc[ACC_VOXEL, h] = -1
    acc[ACC_USED, slots] = 0
    acc[ACC_ROW_OFFSET, slots] = 0


@kernel_leaf
def set_row_offset(acc, offset):
    """The first tally row of this history's block (its spot's, in a dose-influence matrix)."""
    acc[ACC_ROW_OFFSET, acc.shape[1] - 1] = offset


@kernel_leaf
def tally_row(acc, rows, voxel):
    """The tally row where ``voxel``'s sums go, or -1 where the voxel is not scored."""
    if rows.shape[0] == 0:
        return voxel
    r = rows[voxel]
    if r < 0:
        return -1
    return acc[ACC_ROW_OFFSET, acc.shape[1] - 1] + r


@kernel_function
def flush(acc, tally, rows):
    """Add the history's sums (X) and squares (X^2) to the tallies, and empty the table."""
    slots = acc.shape[1] - 1
    mapped = rows.shape[0] > 0  # a dose-influence matrix's rows; a dose's row is its voxel
    offset = acc[ACC_ROW_OFFSET, slots]
    for k in range(acc[ACC_USED, slots]):
        h = acc[ACC_USED, k]
        r = acc[ACC_VOXEL, h]
        acc[ACC_VOXEL, h] = -1
        if mapped:
            r = rows[r]
            if r < 0:
                continue
            r += offset
        row = r * TALLY_ROWS  # a voxel's sums sit side by side: one cache line
        q = acc[ACC_ENERGY, h]
        if q != 0:
            atomic_add(tally, row + T_ENERGY, q)
            atomic_add(tally, row + T_ENERGY_SQ, (q * q + SQ_QUANTA_DIVISOR // 2) // SQ_QUANTA_DIVISOR)
        let_q = acc[ACC_LET, h]
        if let_q != 0:
            atomic_add(tally, row + T_LET, let_q)
    acc[ACC_USED, slots] = 0


@kernel_leaf
def score(acc, tally, rows, counters, voxel, energy_q, let_q):
    """Add a deposit of ``energy_q`` quanta (and its LET weight) to the history's sum in ``voxel``."""
    slots = acc.shape[1] - 1
    mask = slots - 1
    h = (voxel * _HASH_MULTIPLIER) & mask
    while True:
        found = acc[ACC_VOXEL, h]
        if found == voxel:
            break
        if found == -1:
            used = acc[ACC_USED, slots]
            if used >= (3 * slots) // 4:
                flush(acc, tally, rows)
                counters[C_EARLY_FLUSH] += 1
                h = (voxel * _HASH_MULTIPLIER) & mask
                continue
            acc[ACC_VOXEL, h] = voxel
            acc[ACC_ENERGY, h] = 0
            acc[ACC_LET, h] = 0
            acc[ACC_USED, used] = h
            acc[ACC_USED, slots] = used + 1
            break
        h = (h + 1) & mask
    acc[ACC_ENERGY, h] += energy_q
    acc[ACC_LET, h] += let_q


@kernel_function
def score_local(acc, tally, rows, counters, voxel, energy_mev):
    """Energy that nuclear fragments leave on the spot: dose, but not in the LET average (its LET
    is not the proton's), so it is also counted apart in the T_NUCLEAR_LOCAL tally."""
    q = quanta(energy_mev)
    if q > 0:
        score(acc, tally, rows, counters, voxel, q, 0)
        r = tally_row(acc, rows, voxel)
        if r >= 0:
            atomic_add(tally, r * TALLY_ROWS + T_NUCLEAR_LOCAL, q)
