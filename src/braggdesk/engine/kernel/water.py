"""Water tables in the kernel, indexed by residual range.

Every material is water scaled by its relative stopping power, so a proton's state along its
track is its residual water range R [mm] (proton-equivalent).  One table on a grid uniform in
ln R gives, per node, the energy E(R) and the four quantities a step needs at its middle: LET,
Bohr straggling variance, Highland's 13.6 MeV / (p beta) and the stopping power.  The nuclear
cross sections of each material are tabulated on the same grid, so one look-up (one log) per
step end serves the next step entirely.  Only a new particle's first range R(E) is looked up on
an energy grid.
"""

from __future__ import annotations

import math

from .adapt import kernel_function, kernel_leaf
from .layout import H_RANGE, H_WATER, W_BOHR, W_ENERGY, W_HIGHLAND, W_LET, W_STOPPING, WATER_ROWS
from .lookup import interpolate, lerp, log_node, table_offset

HIGHLAND_LOG_T_MIN = 1e-4  # below this many radiation lengths the log term of F(t) is frozen


@kernel_function
def range_mm(header, tables, energy_mev):
    """Water CSDA range [mm] of a proton of this energy."""
    return interpolate(header, tables, H_RANGE, energy_mev)


@kernel_leaf
def range_node(header, range_mm_):
    """The node of a residual range on the water grid: (i, w) for :func:`energy_at` and friends."""
    return log_node(header, H_WATER, range_mm_)


@kernel_leaf
def energy_at(header, tables, i, w):
    """E(R) [MeV] at a water-grid node."""
    return lerp(tables, table_offset(header, H_WATER), i, w, WATER_ROWS, W_ENERGY)


@kernel_function
def energy_mev(header, tables, range_mm_):
    """Energy [MeV] of a proton with this residual water range [mm]."""
    i, w = range_node(header, range_mm_)
    return energy_at(header, tables, i, w)


@kernel_leaf
def mid_step(header, tables, range_mm_):
    """(E [MeV], LET [keV/um], Bohr variance [MeV^2 per mm of water], 13.6 MeV / (p beta), S [MeV/mm])
    of a proton with this residual range."""
    i, w = range_node(header, range_mm_)
    off = table_offset(header, H_WATER)
    return (lerp(tables, off, i, w, WATER_ROWS, W_ENERGY), lerp(tables, off, i, w, WATER_ROWS, W_LET),
            lerp(tables, off, i, w, WATER_ROWS, W_BOHR), lerp(tables, off, i, w, WATER_ROWS, W_HIGHLAND),
            lerp(tables, off, i, w, WATER_ROWS, W_STOPPING))


@kernel_leaf
def highland_f(t):
    """F(t) = t (1 + 0.038 ln t)^2: theta0^2 = (13.6 MeV / p beta)^2 F(t) after t radiation lengths,
    so a step from t to t + dt adds (13.6 / p beta)^2 (F(t + dt) - F(t)) (Highland integrated along
    the path; physics.water.highland_f is the same function on arrays)."""
    c = 1.0 + 0.038 * math.log(max(t, HIGHLAND_LOG_T_MIN))
    return t * c * c
