"""Recording a track database: the full engine's own transport of protons in water, written down step
by step instead of scored (the generation half of track repeating; Li et al. 2005, Med. Phys. 32,
1018; Yepes et al. 2010, Med. Phys. 37, 4417).

:func:`record_particle` is :func:`.track.transport`'s step loop, line for line the same physics (the
same :func:`.track.trace`, Bohr straggling, Highland random-hinge scattering, nonelastic and p-p
elastic events of :mod:`.interactions`) run in one unbounded water voxel, with each leg of each step
written as a record (:mod:`.tracklayout`): its water-equivalent length, the energy the step deposits
on it after straggling, the residual range at its start, its LET weight and the hinge deflection after it (as
(13.6 MeV / p beta) x the two normal deviates: the angle divided by the square root of Highland's F
increment over the step in water, which the re-tracer replaces by the medium's, :mod:`.retrace`).  Energy
that a nuclear event leaves on the spot is read back from the voxel's nuclear-local tally; secondaries
are recorded as they are pushed (direction in the parent's frame) and followed afterwards from the
same last-in-first-out stack as :mod:`.history` uses.  A history that does not fit its record buffer
returns -1 (the host makes the buffer larger and records it again).
"""

from __future__ import annotations

import math

from .adapt import kernel_function, kernel_leaf
from .directions import deflect
from .frames import to_frame
from .interactions import nonelastic, pp_elastic
from .layout import (C_STEPS, H_DI, H_NUCLEAR, P_E, P_MASS, P_U, P_V, P_W, P_X, P_Y, P_Z, SEG_DEPOSIT, T_NUCLEAR_LOCAL,
                     V_INV_X0, V_RSP)
from .rng import exponential, normal, rng_start, uniform
from .scoring import flush
from .track import (MAX_STEP_RANGE_MM, MIN_STEP_RANGE_MM, STEP_RANGE_FRACTION, _EVENT, _LEFT, _MIN_RANGE_MM,
                    _PLANNED, _STOPPED, step_end, trace)
from .tracklayout import R_END, R_LOCAL, R_PUSH, R_TURN
from .water import highland_f, mid_step, range_mm


@kernel_leaf
def put(out, n, a0, a1, a2, a3, a4, a5, a6):
    """Write one record at row n; returns n + 1, or -1 when the buffer is full (or already was)."""
    if n < 0 or n >= out.shape[0]:
        return -1
    out[n, 0] = a0
    out[n, 1] = a1
    out[n, 2] = a2
    out[n, 3] = a3
    out[n, 4] = a4
    out[n, 5] = a5
    out[n, 6] = a6
    return n + 1


@kernel_function
def leg_let(header, tables, r, r_used):
    """The LET weight [keV/um] of a leg that starts at residual range r and uses r_used of it, as the full
    engine weighs a segment (:func:`.track.trace`): the mean of the water LET at its two ends, the end's
    taken as the start's when the leg stops."""
    _, let_a, _, _, _ = mid_step(header, tables, max(r, _MIN_RANGE_MM))
    if r - r_used <= _MIN_RANGE_MM:
        return let_a
    _, let_b, _, _, _ = mid_step(header, tables, r - r_used)
    return 0.5 * (let_a + let_b)


@kernel_function
def put_pushes(out, n, stack, first, last, u, v, w):
    """R_PUSH records for stack entries first .. last - 1, directions in the frame of (u, v, w)."""
    for j in range(first, last):
        ca, cb, cd = to_frame(u, v, w, stack[j, P_U], stack[j, P_V], stack[j, P_W])
        n = put(out, n, R_PUSH, ca, cb, cd, stack[j, P_E], stack[j, P_MASS], 0.0)
    return n


@kernel_function
def record_particle(header, tables, voxels, rng, stack, n_stack, acc, tally, rows, counters, segments, primary,
                    x, y, z, u, v, w, e, mass, out, n_out):
    """:func:`.track.transport` in the recording voxel, writing records from row ``n_out``.
    Returns (stack count, record count or -1)."""
    nuclear = header[H_NUCLEAR] != 0.0 and mass == 1.0
    r = range_mm(header, tables, e)
    t_x0 = 0.0
    f_x0 = 0.0
    mfp = exponential(rng)
    while r > _MIN_RANGE_MM:
        counters[C_STEPS] += 1
        r_step = min(max(STEP_RANGE_FRACTION * r, MIN_STEP_RANGE_MM), MAX_STEP_RANGE_MM, r)
        we_step = mass * r_step
        _, _, bohr_var, highland_k, stopping = mid_step(header, tables, r - 0.5 * r_step)
        we_hinge = uniform(rng) * we_step
        x, y, z, we, t, mfp, n_seg, how, voxel, material, density, pp_share = trace(
            header, tables, voxels, segments, 0, x, y, z, u, v, w, r, mass, we_hinge, 0.0, 0.0, mfp, nuclear)
        we_leg1 = we
        seg_leg1 = n_seg
        t_step = t * we_step / we if we > 1e-9 else we_step * voxels[max(voxel, 0), V_INV_X0] / max(
            voxels[max(voxel, 0), V_RSP], 1e-9)
        step_w = we_step
        if how != _PLANNED:
            t_step = t
            step_w = we
        angle_per_f = highland_k / mass  # theta0 / sqrt(F increment): what the re-tracer scales by the medium's F
        theta0 = angle_per_f * math.sqrt(max(highland_f(t_x0 + t_step) - f_x0, 0.0))
        n_x = normal(rng)
        n_y = normal(rng)
        u, v, w = deflect(u, v, w, theta0 * n_x, theta0 * n_y)
        tx = angle_per_f * n_x
        ty = angle_per_f * n_y
        if how == _PLANNED:
            x, y, z, we, t, mfp, n_seg, how, voxel, material, density, pp_share = trace(
                header, tables, voxels, segments, n_seg, x, y, z, u, v, w, r, mass, we_step, we, t, mfp, nuclear)
        t_x0 += t
        f_x0 = highland_f(t_x0)
        r_end, e_end, scale = step_end(header, tables, rng, segments, n_seg, r, we, mass, bohr_var, stopping,
                                       how != _STOPPED)
        leg1 = 0.0
        leg2 = 0.0
        for k in range(n_seg):
            if k < seg_leg1:
                leg1 += segments[k, SEG_DEPOSIT] * scale
            else:
                leg2 += segments[k, SEG_DEPOSIT] * scale
        n_out = put(out, n_out, we_leg1, leg1, r, leg_let(header, tables, r, we_leg1 / mass), tx, ty, step_w)
        if n_seg > seg_leg1 or we > we_leg1:
            n_out = put(out, n_out, we - we_leg1, leg2, r - we_leg1 / mass,
                        leg_let(header, tables, r - we_leg1 / mass, (we - we_leg1) / mass), 0.0, 0.0, 0.0)
        r = r_end
        if how == _STOPPED or how == _LEFT or r <= _MIN_RANGE_MM:
            break
        if how == _EVENT:
            e = e_end
            before_stack = n_stack
            before_local = tally[T_NUCLEAR_LOCAL]
            if uniform(rng) < pp_share:
                nu, nv, nw, e, n_stack = pp_elastic(rng, stack, n_stack, acc, tally, rows, counters, voxel, x, y, z,
                                                    u, v, w, e)
                n_out = put_pushes(out, n_out, stack, before_stack, n_stack, u, v, w)
                if tally[T_NUCLEAR_LOCAL] != before_local:
                    n_out = put(out, n_out, R_LOCAL, (tally[T_NUCLEAR_LOCAL] - before_local) * 1e-6, 0.0, 0.0, 0.0,
                                0.0, 0.0)
                ca, cb, cd = to_frame(u, v, w, nu, nv, nw)
                n_out = put(out, n_out, R_TURN, ca, cb, cd, 0.0, 0.0, 0.0)
                u, v, w = nu, nv, nw
                r = range_mm(header, tables, e)
                mfp = exponential(rng)
            else:
                n_stack = nonelastic(header, tables, rng, stack, n_stack, acc, tally, rows, counters, voxel, material,
                                     density, primary, x, y, z, u, v, w, e)
                n_out = put_pushes(out, n_out, stack, before_stack, n_stack, u, v, w)
                if tally[T_NUCLEAR_LOCAL] != before_local:
                    n_out = put(out, n_out, R_LOCAL, (tally[T_NUCLEAR_LOCAL] - before_local) * 1e-6, 0.0, 0.0, 0.0,
                                0.0, 0.0)
                break
    n_out = put(out, n_out, R_END, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return n_stack, n_out


@kernel_function
def record_history(history, key_lo, key_hi, header, tables, voxels, energy, rng, stack, segments, acc, tally, rows,
                   counters, out):
    """One history of a proton of ``energy`` [MeV] starting along +z at the centre of the recording voxel;
    returns the number of records written to ``out`` (-1: it did not fit)."""
    rng_start(rng, key_lo, key_hi, history)
    centre = 0.5 * header[H_DI]
    n_stack, n_out = record_particle(header, tables, voxels, rng, stack, 0, acc, tally, rows, counters, segments, True,
                                     centre, centre, centre, 0.0, 0.0, 1.0, energy, 1.0, out, 0)
    while n_stack > 0:
        n_stack -= 1
        n_stack, n_out = record_particle(header, tables, voxels, rng, stack, n_stack, acc, tally, rows, counters,
                                         segments, False, stack[n_stack, P_X], stack[n_stack, P_Y],
                                         stack[n_stack, P_Z], stack[n_stack, P_U], stack[n_stack, P_V],
                                         stack[n_stack, P_W], stack[n_stack, P_E], stack[n_stack, P_MASS], out, n_out)
    flush(acc, tally, rows)
    return n_out
