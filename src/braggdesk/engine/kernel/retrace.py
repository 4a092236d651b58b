"""Re-tracing a stored water track through the CT: the fast half of track repeating (Li et al. 2005,
Med. Phys. 32, 1018; Yepes et al. 2010, Med. Phys. 37, 4417).

A history samples its primary exactly as the full engine does (:func:`.source.sample_primary`), picks
a stored track of the database energy nearest to its own (uniformly, from its own counter-based
stream) and walks the track's records (:mod:`.tracklayout`) from the sampled position and direction:

* **Lengths.** A leg of water-equivalent length s_w crosses the voxels in geometric pieces l with
  sum(l * RSP) = s_w: the proton loses in a medium over l what it loses in water over l * RSP, which is
  how the full engine (:mod:`.track`) charges a step too.  The leg's stored deposit is shared among the
  pieces in proportion to l * RSP, or, in the last 20 mm of a particle's range where the stopping power
  climbs to the Bragg peak, by the water range-energy table, E(r - s_before) - E(r - s_after), as the
  full engine shares all its steps; the last piece takes the remainder, so a leg deposits exactly its
  stored energy.  (Higher up, over one leg of at most half a step of 20 % of the residual range, the
  stopping power changes by a few per cent, and a table look-up per voxel is what this mode saves.)
  The LET weight of a piece is its deposit times the full engine's segment LET: the mean of the water
  LET at its two ends (the leg's, stored with it, or the piece's where the table shares the deposit).
* **Angles.** Highland integrated along the path gives theta0^2 = (13.6 MeV / p beta)^2 [F(T + dt) -
  F(T)], F(t) = t (1 + 0.038 ln t)^2, with t in radiation lengths.  At a given water-equivalent depth
  the proton's p beta is the same in any medium, and a water length s_w is s_w / RSP of medium, i.e.
  dt_m = s_w / (RSP X0_m) radiation lengths instead of dt_w = s_w / X0_w.  So a hinge angle recorded
  in water scales by k = sqrt([F(T_m + dt_m) - F(T_m)] / [F(T_w + dt_w) - F(T_w)]), T the radiation
  lengths the particle has crossed so far in the medium and in water; to first order k = sqrt(X0_w /
  (RSP X0_m)), with X0 in mm (density included).  The recorder divides the water increment out
  already (it stores (13.6 / p beta) x the normal deviates, :mod:`.record`), so here only the medium's
  F(T_m + dt_m) - F(T_m) is evaluated, one log per step (F(T_m) is carried from the last hinge).  The
  step's dt_m is extrapolated from its first leg, as the full engine extrapolates its hinge.
* **Energy.** The database holds tracks on a grid of energies (by default those the plan's spots
  reach the patient with: each layer's mean energy, less what its range shifters take).  A primary that
  enters the CT with energy E takes a track of the grid energy E_db whose water range is nearest to
  R(E), and makes up the difference R(E) - R(E_db) (energy spread, air, a layer between two grid
  energies): it first goes that much water range straight on (depositing E - E(R(E_db)) by the table),
  or, when it has less, skips that much of the stored track (a nuclear event in the skipped part
  happened before the CT: its secondaries and local energy are not followed).  Between grid energies
  this is linear interpolation in range, exact for the continuous slowing down.
* **Secondaries** follow from the same stack as recorded; a particle that leaves the grid takes its
  later secondaries with it.  Nuclear local deposits are scored where they happen (dose, no LET), as
  in the full engine not in air (density below LOCAL_DEPOSIT_MIN_DENSITY: the fragments would fly far),
  which also keeps the events of a skipped track start (air before the CT) out of the CT's air.
  What the track cannot know: the medium's own nuclear events.  Per unit water-equivalent length cortical bone
  has 10-17 % more nonelastic events than water, fat a few per cent fewer, and their products differ (the
  known approximation of track repeating).  The two partly cancel: behind 5 cm of bone the re-traced dose
  is about 0.5 % above the full engine's; weighting the water events by the medium's rate alone overshoots
  to -0.4 % (benchmarks/README.md), so it is not done.

Deposits go to the same integer tallies through :mod:`.scoring`, so the Snapshot, uncertainty and
LETd are made exactly as for the full engine.
"""

from __future__ import annotations

import math

import numpy as np

from .adapt import kernel_function, kernel_leaf
from .directions import deflect
from .frames import from_frame
from .grid import face_distance, inverse, voxel_index
from .interactions import LOCAL_DEPOSIT_MIN_DENSITY
from .layout import (C_SECONDARY_DEUTERONS, C_SECONDARY_PROTONS, C_STACK_FULL, C_STEPS, H_DI, H_DJ,
                     H_DK, H_NI, H_NJ, H_NK, H_SCORE_LET, H_WATER, P_MASS, P_U, P_V, P_W, P_X, P_Y, P_Z, V_DENSITY,
                     V_INV_X0, V_RSP, W_LET, WATER_ROWS)
from .lookup import lerp, table_offset
from .rng import uniform
from .scoring import flush, quanta, score, score_local
from .source import start_history
from .tracklayout import (ALIVE_FIELD, D_COUNT, D_FIRST, D_RANGE, E_DEPOSIT, F_KIND, L_DEPOSIT, L_LET, L_RANGE, L_STEP,
                          L_TX, L_TY, P_A, P_B, P_D, P_MASS_NUMBER, R_END, R_LOCAL, R_PUSH, R_TURN)
from .water import energy_at, energy_mev, highland_f, mid_step, range_mm, range_node

_MIN_RANGE_MM = 1e-6
_LET_QUANTA = 1e6  # model.snapshot.LET_QUANTUM = 1e-6 MeV keV/um
TABLE_SHARE_RANGE_MM = 20.0  # legs ending closer than this to the end of their range share their deposit by the table

# :func:`.scoring.score`, the same source, inlined into the walk (called once per voxel piece, its call with
# four array arguments is a good part of a piece's cost); the full engine's scoring is left as it is.  (With
# the JIT off, as in the CUDA simulator test, ``score`` is a plain function.)
score_inline = kernel_leaf(getattr(score, "py_func", score))

# Values read from the float32 arrays (voxels, records) are made float64 with np.float64() before any
# arithmetic, so that every target rounds alike: compiled, Numba keeps float32 / float32 in float32 (and
# types float() of a float32 as float32); run as Python (the CUDA simulator), NumPy 2 keeps float32 *
# Python float in float32.


@kernel_leaf
def voxel_at(header, x, y, z):
    """The flat index of the voxel holding (x, y, z), or -1 outside the grid."""
    ni = int(header[H_NI])
    nj = int(header[H_NJ])
    ix = voxel_index(x, header[H_DI], ni)
    iy = voxel_index(y, header[H_DJ], nj)
    iz = voxel_index(z, header[H_DK], int(header[H_NK]))
    if ix < 0 or iy < 0 or iz < 0:
        return -1
    return (iz * nj + iy) * ni + ix


@kernel_function
def energy_at_range(header, tables, r):
    """E(r) [MeV], 0 at the end of the range."""
    return energy_mev(header, tables, r) if r > _MIN_RANGE_MM else 0.0


@kernel_function
def table_share(header, tables, r_a, r_b, mass, s_from):
    """(share by the table, E(r_a) - E(r_b), E and LET at the walk's start) of a leg from residual range r_a
    to r_b."""
    span = energy_mev(header, tables, r_a) - energy_at_range(header, tables, r_b)
    i, w = range_node(header, max(r_a - s_from / mass, _MIN_RANGE_MM))
    return (span > 1e-9, span, energy_at(header, tables, i, w),
            lerp(tables, table_offset(header, H_WATER), i, w, WATER_ROWS, W_LET))


@kernel_leaf
def walk_leg(header, tables, voxels, acc, tally, rows, counters, x, y, z, u, v, w, r_a, mass, let, s_w, s_from,
             deposit):
    """Walk a leg of water-equivalent length ``s_w`` [mm] (its first ``s_from`` skipped) straight along
    (u, v, w), scoring its share of ``deposit`` [MeV] in each voxel crossed (the last piece takes the
    remainder, so the leg leaves exactly its deposit), with LET weight deposit x ``let`` [keV/um].
    ``r_a``: residual proton range at the leg's start, ``mass``: mass number.  The share of a piece is
    its water length's, or, for a leg that ends within TABLE_SHARE_RANGE_MM of the end of its range
    (where the stopping power climbs to the Bragg peak), the water range-energy table's.
    Returns (x, y, z, radiation lengths crossed, still in the grid).  (Inlined into its two callers: the
    call of a function with seven array arguments costs more than a short leg's walk.)"""
    ni = int(header[H_NI])
    nj = int(header[H_NJ])
    nk = int(header[H_NK])
    di = header[H_DI]
    dj = header[H_DJ]
    dk = header[H_DK]
    inv_u = inverse(u)
    inv_v = inverse(v)
    inv_w = inverse(w)
    let_scale = _LET_QUANTA if header[H_SCORE_LET] != 0.0 else 0.0
    let_quanta = let * let_scale
    piece_let_quanta = let_quanta  # the leg's stored LET weight; pieces shared by the table take the table's
    let_prev = 0.0
    per_mm = deposit / s_w
    walked = deposit - s_from * per_mm
    r_b = r_a - s_w / mass
    # the table share near the end of range, looked up only when the leg turns out to cross a face (most
    # legs there are shorter than a voxel) or starts part-way (a skipped track start)
    table_wanted = r_b < TABLE_SHARE_RANGE_MM
    table = False
    span = 0.0
    e_prev = 0.0
    if table_wanted and s_from > 0.0:
        table, span, e_prev, let_prev = table_share(header, tables, r_a, r_b, mass, s_from)
        table_wanted = False
        if table:
            walked = deposit * (e_prev - energy_at_range(header, tables, r_b)) / span
    s = s_from
    t = 0.0
    done = 0.0
    while True:
        ix = voxel_index(x, di, ni)
        iy = voxel_index(y, dj, nj)
        iz = voxel_index(z, dk, nk)
        if ix < 0 or iy < 0 or iz < 0:
            return x, y, z, t, False
        if s >= s_w:
            return x, y, z, t, True
        voxel = (iz * nj + iy) * ni + ix
        rsp = max(np.float64(voxels[voxel, V_RSP]), 1e-9)
        length = min(face_distance(x, inv_u, ix, di), face_distance(y, inv_v, iy, dj), face_distance(z, inv_w, iz, dk))
        last = (s_w - s) / rsp <= length
        if last:
            length = (s_w - s) / rsp
            de = walked - done
            s = s_w
            if table:  # the mean LET of the piece's ends; at a stop, its start's (as the full engine weighs)
                let_end = let_prev
                if r_b > _MIN_RANGE_MM:
                    i_n, w_n = range_node(header, r_b)
                    let_end = lerp(tables, table_offset(header, H_WATER), i_n, w_n, WATER_ROWS, W_LET)
                piece_let_quanta = 0.5 * (let_prev + let_end) * let_scale
        else:
            water_mm = length * rsp
            s += water_mm
            if table_wanted:
                table, span, e_prev, let_prev = table_share(header, tables, r_a, r_b, mass, s_from)
                table_wanted = False
            if table:
                i_n, w_n = range_node(header, max(r_a - s / mass, _MIN_RANGE_MM))
                e_next = energy_at(header, tables, i_n, w_n)
                let_next = lerp(tables, table_offset(header, H_WATER), i_n, w_n, WATER_ROWS, W_LET)
                de = deposit * (e_prev - e_next) / span
                e_prev = e_next
                piece_let_quanta = 0.5 * (let_prev + let_next) * let_scale
                let_prev = let_next
            else:
                de = water_mm * per_mm
        done += de
        t += length * np.float64(voxels[voxel, V_INV_X0])
        x += length * u
        y += length * v
        z += length * w
        if de > 0.0:
            score_inline(acc, tally, rows, counters, voxel, quanta(de), int(de * piece_let_quanta + 0.5))
        if last:
            return x, y, z, t, True


@kernel_leaf
def step_radiation_lengths(header, voxels, x, y, z, t_leg, s_leg, s_step):
    """Radiation lengths of a step of water length ``s_step`` in the medium, extrapolated from its first
    leg (``s_leg`` of water, ``t_leg`` radiation lengths) as the full engine extrapolates its hinge; a leg
    too short to tell takes the voxel it ends in."""
    if s_leg > 1e-9:
        return t_leg * s_step / s_leg
    voxel = voxel_at(header, x, y, z)
    if voxel < 0:
        return 0.0
    return s_step * np.float64(voxels[voxel, V_INV_X0]) / max(np.float64(voxels[voxel, V_RSP]), 1e-9)


@kernel_function
def retrace_track(header, tables, voxels, db_records, first, last, stack, acc, tally, rows, counters,
                  x, y, z, u, v, w, shift_w, r_db):
    """Re-trace the records first .. last - 1 (one history) from a primary at (x, y, z) going (u, v, w)
    with ``shift_w`` [mm] more water range than the stored track's (less: skip that much of it); ``r_db``:
    the stored track's water range [mm]."""
    alive = True
    mass = 1.0
    t_m = 0.0  # radiation lengths crossed by the particle so far
    t_f = 0.0  # where f_m = F(t_f) was last evaluated
    f_m = 0.0
    skip = 0.0
    n_stack = 0
    if shift_w > 0.0:  # more energy than the stored track: that much water range straight ahead first
        r_in = r_db + shift_w
        _, let, _, _, _ = mid_step(header, tables, r_db + 0.5 * shift_w)
        x, y, z, _, alive = walk_leg(header, tables, voxels, acc, tally, rows, counters, x, y, z, u, v, w, r_in, 1.0,
                                     let, shift_w, 0.0,
                                     energy_mev(header, tables, r_in) - energy_mev(header, tables, r_db))
    else:
        skip = -shift_w
    for k in range(first, last):
        kind = np.float64(db_records[k, F_KIND])
        if kind >= 0.0:  # a leg
            if not alive:
                continue
            counters[C_STEPS] += 1
            s_leg = kind
            s_from = 0.0
            if skip > 0.0:
                s_from = min(skip, s_leg)
                skip -= s_from
            t_leg = 0.0
            if s_from < s_leg:
                x, y, z, t_leg, alive = walk_leg(header, tables, voxels, acc, tally, rows, counters, x, y, z, u, v,
                                                 w, np.float64(db_records[k, L_RANGE]), mass,
                                                 np.float64(db_records[k, L_LET]), s_leg, s_from,
                                                 np.float64(db_records[k, L_DEPOSIT]))
            s_walked = s_leg - s_from
            s_step = np.float64(db_records[k, L_STEP])
            if alive and s_step > 0.0:  # the hinge: Highland's F increment over the step, in the medium
                dt = step_radiation_lengths(header, voxels, x, y, z, t_leg, s_walked,
                                            s_step * (s_walked / s_leg if s_leg > 0.0 else 1.0))
                if abs(t_f - t_m) > 1e-9 * (t_m + 1e-9):  # F(t_m) not carried from the last hinge
                    f_m = highland_f(t_m)
                f_next = highland_f(t_m + dt)
                theta = math.sqrt(max(f_next - f_m, 0.0))
                u, v, w = deflect(u, v, w, theta * np.float64(db_records[k, L_TX]),
                                  theta * np.float64(db_records[k, L_TY]))
                f_m = f_next
                t_f = t_m + dt
            t_m += t_leg
        elif kind == R_LOCAL:
            if alive and skip <= 0.0:
                voxel = voxel_at(header, x, y, z)
                if voxel >= 0 and np.float64(voxels[voxel, V_DENSITY]) >= LOCAL_DEPOSIT_MIN_DENSITY:
                    score_local(acc, tally, rows, counters, voxel, np.float64(db_records[k, E_DEPOSIT]))
        elif kind == R_PUSH:
            if n_stack >= stack.shape[0]:
                counters[C_STACK_FULL] += 1
                continue
            nu, nv, nw = from_frame(u, v, w, np.float64(db_records[k, P_A]), np.float64(db_records[k, P_B]),
                                    np.float64(db_records[k, P_D]))
            stack[n_stack, P_X] = x
            stack[n_stack, P_Y] = y
            stack[n_stack, P_Z] = z
            stack[n_stack, P_U] = nu
            stack[n_stack, P_V] = nv
            stack[n_stack, P_W] = nw
            stack[n_stack, ALIVE_FIELD] = 1.0 if alive and skip <= 0.0 else 0.0
            stack[n_stack, P_MASS] = np.float64(db_records[k, P_MASS_NUMBER])
            n_stack += 1
            if alive and skip <= 0.0:
                if db_records[k, P_MASS_NUMBER] > 1.5:
                    counters[C_SECONDARY_DEUTERONS] += 1
                else:
                    counters[C_SECONDARY_PROTONS] += 1
        elif kind == R_TURN:
            if alive:
                u, v, w = from_frame(u, v, w, np.float64(db_records[k, P_A]), np.float64(db_records[k, P_B]),
                                    np.float64(db_records[k, P_D]))
        elif kind == R_END:
            if n_stack > 0:
                n_stack -= 1
                x = stack[n_stack, P_X]
                y = stack[n_stack, P_Y]
                z = stack[n_stack, P_Z]
                u = stack[n_stack, P_U]
                v = stack[n_stack, P_V]
                w = stack[n_stack, P_W]
                alive = stack[n_stack, ALIVE_FIELD] != 0.0
                mass = stack[n_stack, P_MASS]
                t_m = 0.0
                t_f = 0.0
                f_m = 0.0
                skip = 0.0


@kernel_function
def nearest_entry(db_energies, r):
    """The database energy whose water range is nearest to r (rows sorted by energy: binary search)."""
    lo = 0
    hi = db_energies.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if db_energies[mid, D_RANGE] < r:
            lo = mid + 1
        else:
            hi = mid
    if lo > 0 and r - db_energies[lo - 1, D_RANGE] < db_energies[lo, D_RANGE] - r:
        return lo - 1
    return lo


@kernel_function
def run_retrace_history(history, key_lo, key_hi, header, tables, voxels, spots, spot_cdf, beams, db_records,
                        db_offsets, db_energies, rng, stack, acc, tally, rows, counters,
                        first_spot, per_spot, rows_per_spot):
    """One history of the track-repeating mode: the primary from the source, a stored track of its
    energy re-traced from there, its scores to the tallies (the arguments as :func:`.history.run_history`,
    plus the packed database)."""
    alive, x, y, z, u, v, w, e = start_history(history, key_lo, key_hi, header, tables, spots, spot_cdf, beams, rng,
                                               acc, counters, first_spot, per_spot, rows_per_spot)
    if not alive:
        return
    r = range_mm(header, tables, e)
    entry = nearest_entry(db_energies, r)
    n_tracks = int(db_energies[entry, D_COUNT])
    track = int(db_energies[entry, D_FIRST]) + min(int(uniform(rng) * n_tracks), n_tracks - 1)
    shift_w = r - db_energies[entry, D_RANGE]
    retrace_track(header, tables, voxels, db_records, db_offsets[track], db_offsets[track + 1], stack, acc, tally,
                  rows, counters, x, y, z, u, v, w, shift_w, db_energies[entry, D_RANGE])
    flush(acc, tally, rows)
