"""One charged particle's track through the voxels: class II condensed history with steps that
cross voxel boundaries.

A physics step covers a planned slice of the particle's residual range: 20 % of it, at least
``MIN_STEP_RANGE_MM`` and at most ``MAX_STEP_RANGE_MM`` (energy losses of 10-12 %, the usual limit
of condensed-history codes).  Its straight path is traced voxel by voxel (the segments); the step
ends early at a nuclear event (the remaining mean free paths, consumed segment by segment at each
voxel's own macroscopic cross section), at the end of the range, at the grid's edge, or when
``MAX_SEGMENTS`` voxels are crossed.  What a segment costs is its water-equivalent length
(geometric length times the voxel's relative stopping power), so heterogeneities are seen at the
voxel scale even in long steps.

* Energy: each segment's mean loss is the difference of the water range-energy table over its
  water-equivalent length, E(R_a) - E(R_b), so the deposit is exact for the continuous slowing
  down whatever the step length; Bohr straggling on the whole step, as a range fluctuation clipped
  to +-the step's range, scales all of the step's deposits alike.  The dose-averaged LET weight of
  a segment is its deposit times the mean of the LET at its two ends.
* Multiple Coulomb scattering: Highland's theta0 integrated along the path, F(t + dt) - F(t), with
  t in radiation lengths summed over the segments; the deflection is applied at a random hinge
  point of the step (Kawrakow and Bielajew's random hinge), which gives the right mean lateral
  displacement for any step length.  The hinge's theta0 uses the step's radiation lengths
  extrapolated from its first leg.
* Nuclear events (:mod:`.interactions`) end the step where they happen.

A particle of mass number a (1 proton, 2 deuteron) stores the proton-equivalent energy e = T / a;
its state along the track is its residual proton range r (see :mod:`.water`).  At equal velocity
its stopping power is the proton's at T / a, its range a times longer and its p beta a times
larger: a water-equivalent path s_w uses s_w / a of r, deposits a times the proton loss and
scatters 1 / a as much.  Deuterons have no nuclear events here (their ~1 cm paths make them rare).
"""

from __future__ import annotations

import math

from .adapt import kernel_function
from .directions import deflect
from .grid import face_distance, inverse, voxel_index
from .interactions import nonelastic, pp_elastic
from .layout import (C_STEPS, H_DI, H_DJ, H_DK, H_NI, H_NJ, H_NK, H_NUCLEAR, H_SCORE_LET, H_WATER, H_XS, LOG_NODES,
                     SEG_DEPOSIT, SEG_LET, SEG_VOXEL, V_DENSITY, V_INV_X0, V_MATERIAL, V_RSP, W_LET,
                     W_STOPPING, WATER_ROWS, XS_NONELASTIC, XS_PP, XS_ROWS)
from .lookup import lerp, table_offset
from .rng import exponential, normal, uniform
from .scoring import quanta, score
from .water import energy_at, energy_mev, highland_f, mid_step, range_mm, range_node

STEP_RANGE_FRACTION = 0.2
MIN_STEP_RANGE_MM = 1.0
MAX_STEP_RANGE_MM = 10.0
THIN_SEGMENT = 1e-4  # segments using less of the residual range than this take the stopping power at their start
_MIN_RANGE_MM = 1e-6
_LET_QUANTA = 1e6  # model.snapshot.LET_QUANTUM = 1e-6 MeV keV/um

# how a step ended
_PLANNED, _EVENT, _STOPPED, _LEFT, _FULL = 0, 1, 2, 3, 4


@kernel_function
def trace(header, tables, voxels, segments, n_seg, x, y, z, u, v, w, r, mass, we_to, we, t, mfp, nuclear):
    """Follow the straight line from (x, y, z) along (u, v, w) until the step's water-equivalent length
    ``we`` reaches ``we_to``, recording segments.  ``r`` is the residual range at the step's start.
    Returns (x, y, z, we, t, mfp, n_seg, how, voxel, material, density, sigma_pp_share) at the end."""
    ni = int(header[H_NI])
    nj = int(header[H_NJ])
    nk = int(header[H_NK])
    di = header[H_DI]
    dj = header[H_DJ]
    dk = header[H_DK]
    inv_u = inverse(u)
    inv_v = inverse(v)
    inv_w = inverse(w)
    water = table_offset(header, H_WATER)
    xs_offset = table_offset(header, H_XS)
    xs_nodes = int(header[H_XS + LOG_NODES])
    voxel = -1
    material = 0
    density = 0.0
    pp_share = 0.0
    r_a = r - we / mass
    i_a, w_a = range_node(header, r_a)
    e_a = energy_at(header, tables, i_a, w_a)
    let_a = lerp(tables, water, i_a, w_a, WATER_ROWS, W_LET)
    while True:
        if we >= we_to:
            return x, y, z, we, t, mfp, n_seg, _PLANNED, voxel, material, density, pp_share
        if n_seg >= segments.shape[0]:
            return x, y, z, we, t, mfp, n_seg, _FULL, voxel, material, density, pp_share
        ix = voxel_index(x, di, ni)
        iy = voxel_index(y, dj, nj)
        iz = voxel_index(z, dk, nk)
        if ix < 0 or iy < 0 or iz < 0:
            return x, y, z, we, t, mfp, n_seg, _LEFT, voxel, material, density, pp_share
        voxel = (iz * nj + iy) * ni + ix
        rsp = max(voxels[voxel, V_RSP], 1e-9)
        length = min(face_distance(x, inv_u, ix, di), face_distance(y, inv_v, iy, dj), face_distance(z, inv_w, iz, dk))
        how = _PLANNED
        planned = (we_to - we) / rsp
        if planned <= length:
            length = planned
        stop = mass * r_a / rsp  # the rest of the range
        if stop <= length * (1.0 + 1e-12):
            length = stop
            how = _STOPPED
        sigma = 0.0
        if nuclear:
            density = voxels[voxel, V_DENSITY]
            material = int(voxels[voxel, V_MATERIAL])
            row = xs_offset + material * xs_nodes * XS_ROWS
            sigma_pp = density * lerp(tables, row, i_a, w_a, XS_ROWS, XS_PP)
            sigma = density * lerp(tables, row, i_a, w_a, XS_ROWS, XS_NONELASTIC) + sigma_pp
            if sigma > 1e-12 and mfp < sigma * length:
                length = mfp / sigma
                how = _EVENT
                pp_share = sigma_pp / sigma
        we += length * rsp
        t += length * voxels[voxel, V_INV_X0]
        mfp -= sigma * length
        x += length * u
        y += length * v
        z += length * w
        r_b = r - we / mass
        if how == _STOPPED:
            e_b = 0.0
            let_b = let_a
        elif r_a - r_b < THIN_SEGMENT * r_a:
            # a thin segment (air): the stopping power at its start is exact to 1e-4, and the node is kept
            e_b = e_a - (r_a - r_b) * lerp(tables, water, i_a, w_a, WATER_ROWS, W_STOPPING)
            let_b = let_a
        else:
            i_a, w_a = range_node(header, r_b)
            e_b = energy_at(header, tables, i_a, w_a)
            let_b = lerp(tables, water, i_a, w_a, WATER_ROWS, W_LET)
        r_a = r_b
        segments[n_seg, SEG_VOXEL] = voxel
        segments[n_seg, SEG_DEPOSIT] = max(e_a - e_b, 0.0) * mass
        segments[n_seg, SEG_LET] = 0.5 * (let_a + let_b)
        n_seg += 1
        e_a = e_b
        let_a = let_b
        if how != _PLANNED:
            return x, y, z, we, t, mfp, n_seg, how, voxel, material, density, pp_share


@kernel_function
def step_end(header, tables, rng, segments, n_seg, r, we, mass, bohr_var, stopping, straggle):
    """(residual range, energy, deposit scale) at a step's end: Bohr straggling over the step as a fluctuation
    of the range it used (none for a particle that stopped: ``straggle`` False), and the factor that turns
    the segments' mean deposits into the energy the step really lost.  Transport and the track recorder
    both end their steps here."""
    r_used = we / mass
    r_end = 0.0
    if straggle:
        fluct = math.sqrt(bohr_var * we) * normal(rng) / (stopping * mass)
        r_end = r - r_used + min(max(fluct, -r_used), r_used)
    deposited_mean = 0.0
    for k in range(n_seg):
        deposited_mean += segments[k, SEG_DEPOSIT]
    e_start = energy_mev(header, tables, r)
    e_end = energy_mev(header, tables, r_end) if r_end > _MIN_RANGE_MM else 0.0
    scale = (e_start - e_end) * mass / deposited_mean if deposited_mean > 0.0 else 0.0
    return r_end, e_end, scale


@kernel_function
def transport(header, tables, voxels, rng, stack, n_stack, acc, tally, rows, counters, segments, primary,
              x, y, z, u, v, w, e, mass):
    """Follow one particle until it stops, leaves the grid or is removed; returns the stack count."""
    nuclear = header[H_NUCLEAR] != 0.0 and mass == 1.0
    score_let = header[H_SCORE_LET] != 0.0
    r = range_mm(header, tables, e)
    t_x0 = 0.0
    f_x0 = 0.0  # Highland's F(t_x0), carried from step to step
    mfp = exponential(rng)
    while r > _MIN_RANGE_MM:
        counters[C_STEPS] += 1
        r_step = min(max(STEP_RANGE_FRACTION * r, MIN_STEP_RANGE_MM), MAX_STEP_RANGE_MM, r)
        we_step = mass * r_step
        _, _, bohr_var, highland_k, stopping = mid_step(header, tables, r - 0.5 * r_step)
        # leg 1: straight to the hinge
        we_hinge = uniform(rng) * we_step
        x, y, z, we, t, mfp, n_seg, how, voxel, material, density, pp_share = trace(
            header, tables, voxels, segments, 0, x, y, z, u, v, w, r, mass, we_hinge, 0.0, 0.0, mfp, nuclear)
        # the hinge: one deflection for the whole step, its radiation lengths extrapolated from leg 1
        t_step = t * we_step / we if we > 1e-9 else we_step * voxels[max(voxel, 0), V_INV_X0] / max(
            voxels[max(voxel, 0), V_RSP], 1e-9)
        if how != _PLANNED:
            t_step = t
        theta0 = highland_k / mass * math.sqrt(max(highland_f(t_x0 + t_step) - f_x0, 0.0))
        u, v, w = deflect(u, v, w, theta0 * normal(rng), theta0 * normal(rng))
        if how == _PLANNED:  # leg 2: on to the step's end
            x, y, z, we, t, mfp, n_seg, how, voxel, material, density, pp_share = trace(
                header, tables, voxels, segments, n_seg, x, y, z, u, v, w, r, mass, we_step, we, t, mfp, nuclear)
        t_x0 += t
        f_x0 = highland_f(t_x0)
        r_end, e_end, scale = step_end(header, tables, rng, segments, n_seg, r, we, mass, bohr_var, stopping,
                                       how != _STOPPED)
        for k in range(n_seg):
            de = segments[k, SEG_DEPOSIT] * scale
            score(acc, tally, rows, counters, int(segments[k, SEG_VOXEL]), quanta(de),
                  int(de * segments[k, SEG_LET] * _LET_QUANTA + 0.5) if score_let else 0)
        r = r_end
        if how == _STOPPED or how == _LEFT or r <= _MIN_RANGE_MM:
            break
        if how == _EVENT:
            e = e_end
            if uniform(rng) < pp_share:
                u, v, w, e, n_stack = pp_elastic(rng, stack, n_stack, acc, tally, rows, counters, voxel, x, y, z, u, v, w,
                                                 e)
                r = range_mm(header, tables, e)
                mfp = exponential(rng)
            else:
                n_stack = nonelastic(header, tables, rng, stack, n_stack, acc, tally, rows, counters, voxel, material,
                                     density, primary, x, y, z, u, v, w, e)
                break
    return n_stack
