"""A primary proton from the beam source: spot, phase space, range shifters, entry into the CT.

The spot is drawn with the probability of its share of the plan's protons (binary search in the
cumulative weights).  Each spot's central ray comes from the virtual source (VSAD x, y) through
its position at the isocentre plane; around it the beam model's Gaussian phase space at the
reference plane (size, divergence, correlation per axis) and energy spread; a double-Gaussian
spot takes its second (halo) component with probability ``weight2``.  The proton then flies in a
straight line, crossing each range shifter slab of its beam (energy loss, Bohr straggling and
Highland scattering over the slab's thickness), to where it enters the CT grid.  On the way it loses
the energy the air between the source plane and the CT takes (about 0.5 mm of water over 50 cm;
MCsquare does the same with a BDL model's nozzle exit); it is not scattered there, since the
model's optics were measured in air and already describe the spot's spread.
"""

from __future__ import annotations

import math

from .adapt import kernel_function
from .directions import deflect, normalised
from .grid import BOUNDARY_PUSH_MM, box_entry
from .layout import (B_AX, B_AY, B_DIR, B_ISO, B_N_SLABS, B_REFERENCE_PLANE, B_SLABS, B_VSAD_X, B_VSAD_Y, G_CORR_X,
                     G_CORR_Y, H_AIR_RSP, G_DIV_X, G_DIV_Y, G_SIGMA_X, G_SIGMA_Y, H_DI, H_DJ, H_DK, H_NI, H_NJ, H_NK, S_BEAM,
                     S_ENERGY, S_ENERGY_SIGMA, S_G1, S_G2, S_WEIGHT2, S_X, S_Y, SLAB_FIELDS, C_MISSING_CT)
from .rng import normal, rng_start, uniform
from .scoring import set_row_offset
from .water import energy_mev, highland_f, mid_step, range_mm

_MIN_RANGE_MM = 1e-6


@kernel_function
def pick_spot(spot_cdf, u):
    """The first spot whose cumulative weight exceeds u."""
    lo = 0
    hi = spot_cdf.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if spot_cdf[mid] > u:
            hi = mid
        else:
            lo = mid + 1
    return lo


@kernel_function
def cross_slab(header, tables, rng, e, u, v, w, water_equivalent_mm, thickness_x0):
    """Energy and direction after a range shifter slab of this water-equivalent thickness."""
    r = range_mm(header, tables, e)
    if r <= water_equivalent_mm:
        return 0.0, u, v, w
    _, _, bohr_var, highland_k, _ = mid_step(header, tables, max(r - 0.5 * water_equivalent_mm, _MIN_RANGE_MM))
    mean_loss = energy_mev(header, tables, r) - energy_mev(header, tables, max(r - water_equivalent_mm, _MIN_RANGE_MM))
    e_out = max(e - mean_loss - math.sqrt(bohr_var * water_equivalent_mm) * normal(rng), 0.0)
    theta0 = highland_k * math.sqrt(highland_f(thickness_x0))
    u, v, w = deflect(u, v, w, theta0 * normal(rng), theta0 * normal(rng))
    return e_out, u, v, w


@kernel_function
def sample_primary(header, tables, spots, spot_cdf, beams, rng, spot):
    """(alive, x, y, z, u, v, w, energy) of a primary just inside the CT grid; alive is False for a
    primary that misses the grid or stops in a range shifter.  ``spot`` < 0: the spot is drawn by
    its share of the plan's protons; otherwise that spot (a dose-influence matrix's batch)."""
    s = spot if spot >= 0 else pick_spot(spot_cdf, uniform(rng))
    b = int(spots[s, S_BEAM])
    g = S_G1
    if spots[s, S_WEIGHT2] > 0.0 and uniform(rng) < spots[s, S_WEIGHT2]:
        g = S_G2
    z0 = normal(rng)
    z1 = normal(rng)
    z2 = normal(rng)
    z3 = normal(rng)
    z4 = normal(rng)
    d_ref = beams[b, B_REFERENCE_PLANE]
    vsad_x = beams[b, B_VSAD_X]
    vsad_y = beams[b, B_VSAD_Y]
    x_iso = spots[s, S_X]
    y_iso = spots[s, S_Y]
    cx = spots[s, g + G_CORR_X]
    cy = spots[s, g + G_CORR_Y]
    px = x_iso * (vsad_x - d_ref) / vsad_x + spots[s, g + G_SIGMA_X] * z0
    py = y_iso * (vsad_y - d_ref) / vsad_y + spots[s, g + G_SIGMA_Y] * z1
    ax = x_iso / vsad_x + spots[s, g + G_DIV_X] * (cx * z0 + math.sqrt(max(1.0 - cx * cx, 0.0)) * z2)
    ay = y_iso / vsad_y + spots[s, g + G_DIV_Y] * (cy * z1 + math.sqrt(max(1.0 - cy * cy, 0.0)) * z3)
    x = beams[b, B_ISO] - d_ref * beams[b, B_DIR] + px * beams[b, B_AX] + py * beams[b, B_AY]
    y = beams[b, B_ISO + 1] - d_ref * beams[b, B_DIR + 1] + px * beams[b, B_AX + 1] + py * beams[b, B_AY + 1]
    z = beams[b, B_ISO + 2] - d_ref * beams[b, B_DIR + 2] + px * beams[b, B_AX + 2] + py * beams[b, B_AY + 2]
    u, v, w = normalised(beams[b, B_DIR] + ax * beams[b, B_AX] + ay * beams[b, B_AY],
                         beams[b, B_DIR + 1] + ax * beams[b, B_AX + 1] + ay * beams[b, B_AY + 1],
                         beams[b, B_DIR + 2] + ax * beams[b, B_AX + 2] + ay * beams[b, B_AY + 2])
    e = max(spots[s, S_ENERGY] + spots[s, S_ENERGY_SIGMA] * z4, 0.0)
    for k in range(int(beams[b, B_N_SLABS])):
        slab = B_SLABS + k * SLAB_FIELDS
        # fly to the slab's plane, then cross it
        px = beams[b, B_ISO] - beams[b, slab] * beams[b, B_DIR] - x
        py = beams[b, B_ISO + 1] - beams[b, slab] * beams[b, B_DIR + 1] - y
        pz = beams[b, B_ISO + 2] - beams[b, slab] * beams[b, B_DIR + 2] - z
        t = (px * beams[b, B_DIR] + py * beams[b, B_DIR + 1] + pz * beams[b, B_DIR + 2]) / (
            u * beams[b, B_DIR] + v * beams[b, B_DIR + 1] + w * beams[b, B_DIR + 2])
        x += t * u
        y += t * v
        z += t * w
        e, u, v, w = cross_slab(header, tables, rng, e, u, v, w, beams[b, slab + 1], beams[b, slab + 2])
    t_in, t_out = box_entry(x, y, z, u, v, w, header[H_NI] * header[H_DI], header[H_NJ] * header[H_DJ],
                            header[H_NK] * header[H_DK])
    if not (t_in < t_out and t_out > 0.0 and e > 0.0):
        return False, x, y, z, u, v, w, e
    if t_in > 0.0 and header[H_AIR_RSP] > 0.0:  # the air on the way to the CT
        r = range_mm(header, tables, e) - t_in * header[H_AIR_RSP]
        e = energy_mev(header, tables, r) if r > _MIN_RANGE_MM else 0.0
        if e <= 0.0:
            return False, x, y, z, u, v, w, e
    t = max(t_in, 0.0) + BOUNDARY_PUSH_MM
    return True, x + t * u, y + t * v, z + t * w, u, v, w, e


@kernel_function
def start_history(history, key_lo, key_hi, header, tables, spots, spot_cdf, beams, rng, acc, counters, first_spot,
                  per_spot, rows_per_spot):
    """A history's random stream (key, history) and its primary, as sample_primary gives it.  For a dose the
    spot is drawn by weight; for a dose-influence matrix (``per_spot`` > 0) histories come in runs of
    ``per_spot`` per spot from ``first_spot`` on, each spot scoring into its own block of ``rows_per_spot``
    rows.  A primary that misses the CT is counted.  Every kernel's histories start here (full, re-trace)."""
    rng_start(rng, key_lo, key_hi, history)
    spot = -1
    if per_spot > 0:
        slot = history // per_spot
        spot = first_spot + slot
        set_row_offset(acc, slot * rows_per_spot)
    alive, x, y, z, u, v, w, e = sample_primary(header, tables, spots, spot_cdf, beams, rng, spot)
    if not alive:
        counters[C_MISSING_CT] += 1
    return alive, x, y, z, u, v, w, e
