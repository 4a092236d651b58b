"""One charged particle's track through the voxels: class II condensed history.

A step ends at the first of: just past the voxel's next face, the end of the particle's range, or
a nuclear event (nonelastic or p-p elastic, sampled by the remaining mean free paths over the
macroscopic cross section at the step's start).  Over a step of water-equivalent length s_w
(geometric length times the voxel's relative stopping power) the mean energy loss comes from the
water range-energy table, E(R) -> E(R - s_w), with Bohr straggling as a range fluctuation clipped
to +-s_w (so the mean loss holds where the Gaussian is too wide: thin steps, air).  Multiple
Coulomb scattering: Highland's theta0 integrated along the path, F(t + dt) - F(t), applied at a
random hinge point of the step.  The step's energy goes to the voxel where it began, with its LET
in water at the step's mid-energy as the weight of the dose-averaged LET.

A particle of mass number a (1 proton, 2 deuteron) stores the proton-equivalent energy e = T / a:
at equal velocity its stopping power is the proton's at T / a, its range a times longer and its
p beta a times larger; so a step uses s_w / a of proton range, deposits a times the proton loss
and scatters 1 / a as much.  Deuterons have no nuclear events here (their ~1 cm paths make them
rare).
"""

from __future__ import annotations

import math

from .adapt import kernel_function
from .directions import deflect
from .grid import distance_to_face, voxel_index
from .interactions import nonelastic, pp_elastic
from .layout import (C_STEPS, H_DI, H_DJ, H_DK, H_NI, H_NJ, H_NK, H_NUCLEAR, H_SCORE_LET, H_XS, LOG_NODES,
                     V_DENSITY, V_INV_X0, V_MATERIAL, V_RSP, XS_NONELASTIC, XS_PP, XS_ROWS)
from .lookup import lerp, table_offset
from .rng import exponential, normal, uniform
from .scoring import quanta, score
from .water import energy_at, highland_f, mid_step, range_mm, range_node

_MIN_RANGE_MM = 1e-6
_LET_QUANTA = 1e6  # model.snapshot.LET_QUANTUM = 1e-6 MeV keV/um


@kernel_function
def transport(header, tables, voxels, rng, stack, n_stack, acc, tally, counters, primary,
              x, y, z, u, v, w, e, mass):
    """Follow one particle until it stops, leaves the grid or is removed; returns the stack count.

    The particle's state along the track is its residual proton-equivalent water range r [mm]
    (see :mod:`.water`); e = E(r) and the cross sections come from one look-up at each step's end.
    """
    ni = int(header[H_NI])
    nj = int(header[H_NJ])
    nk = int(header[H_NK])
    di = header[H_DI]
    dj = header[H_DJ]
    dk = header[H_DK]
    nuclear = header[H_NUCLEAR] != 0.0 and mass == 1.0
    score_let = header[H_SCORE_LET] != 0.0
    xs_offset = table_offset(header, H_XS)
    xs_nodes = int(header[H_XS + LOG_NODES])
    r = range_mm(header, tables, e)
    node, wt = range_node(header, r)
    t_x0 = 0.0
    f_x0 = 0.0  # Highland's F(t_x0), carried from step to step
    mfp = exponential(rng)
    while True:
        ix = voxel_index(x, di, ni)
        iy = voxel_index(y, dj, nj)
        iz = voxel_index(z, dk, nk)
        if ix < 0 or iy < 0 or iz < 0:
            break
        voxel = (iz * nj + iy) * ni + ix
        rsp = voxels[voxel, V_RSP]
        s_geo = min(distance_to_face(x, u, ix, di), distance_to_face(y, v, iy, dj), distance_to_face(z, w, iz, dk))
        s_stop = mass * r / max(rsp, 1e-9)
        sigma = 0.0
        sigma_pp = 0.0
        s_nuc = 1e30
        material = 0
        density = 0.0
        if nuclear:
            density = voxels[voxel, V_DENSITY]
            material = int(voxels[voxel, V_MATERIAL])
            row = xs_offset + material * xs_nodes * XS_ROWS
            sigma_pp = density * lerp(tables, row, node, wt, XS_ROWS, XS_PP)
            sigma = density * lerp(tables, row, node, wt, XS_ROWS, XS_NONELASTIC) + sigma_pp
            if sigma > 1e-12:
                s_nuc = mfp / sigma
        counters[C_STEPS] += 1
        if s_stop <= min(s_geo, s_nuc):  # the rest of the range fits in this voxel: all of it stays here
            e = energy_at(header, tables, node, wt)
            let_full = 0
            if score_let:
                _, let, _, _, _ = mid_step(header, tables, 0.5 * r)
                let_full = int(e * mass * let * _LET_QUANTA + 0.5)
            score(acc, tally, counters, voxel, quanta(e * mass), let_full)
            break
        s = min(s_geo, s_nuc)
        s_w = s * rsp
        r_used = s_w / mass
        _, let, bohr_var, highland_k, stopping = mid_step(header, tables, r - 0.5 * r_used)
        # Bohr straggling as a range fluctuation, clipped to +-r_used so the mean loss holds where the
        # Gaussian is too wide (thin steps, air)
        fluct = min(max(math.sqrt(bohr_var * s_w) * normal(rng) / (stopping * mass), -r_used), r_used)
        e = energy_at(header, tables, node, wt)
        r = r - r_used + fluct
        if r > _MIN_RANGE_MM:
            node, wt = range_node(header, r)
            e_new = energy_at(header, tables, node, wt)
        else:
            e_new = 0.0
        de = max(e - e_new, 0.0) * mass
        t_x0 += s * voxels[voxel, V_INV_X0]
        f_new = highland_f(t_x0)
        theta0 = highland_k / mass * math.sqrt(max(f_new - f_x0, 0.0))
        f_x0 = f_new
        hinge = s * uniform(rng)
        x += hinge * u
        y += hinge * v
        z += hinge * w
        tx = theta0 * normal(rng)
        ty = theta0 * normal(rng)
        u, v, w = deflect(u, v, w, tx, ty)
        x += (s - hinge) * u
        y += (s - hinge) * v
        z += (s - hinge) * w
        score(acc, tally, counters, voxel, quanta(de), int(de * let * _LET_QUANTA + 0.5) if score_let else 0)
        if e_new <= 0.0:
            break
        mfp -= sigma * s
        if s_nuc < s_geo:
            if uniform(rng) * sigma < sigma_pp:
                u, v, w, e_new, n_stack = pp_elastic(rng, stack, n_stack, acc, tally, counters, voxel, x, y, z, u, v, w,
                                                     e_new)
                r = range_mm(header, tables, e_new)
                node, wt = range_node(header, r)
                mfp = exponential(rng)
            else:
                n_stack = nonelastic(header, tables, rng, stack, n_stack, acc, tally, counters, voxel, material,
                                     density, primary, x, y, z, u, v, w, e_new)
                break
    return n_stack
