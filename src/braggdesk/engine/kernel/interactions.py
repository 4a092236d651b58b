"""Nuclear events that end a step: nonelastic interactions and proton-proton elastic scattering.

Nonelastic (ICRU 63 as MCsquare tabulates it; see physics.secondaries): the proton is removed.
Per event the material's data give the energy share of heavy recoils and alphas, deposited on the
spot (not in air: there the fragments would fly far), and the multiplicities and energy spectra
of secondary protons and deuterons.  floor(M) or floor(M) + 1 of each kind are emitted (mean M),
each energy drawn from the spectrum's quantiles; the data carry no correlation within an event,
so the energy per event is right on average.  The angle follows quasi-free kinematics,
cos(theta) = sqrt(E_s / E).  Those under SECONDARY_MIN_MEV (range < 25 um) deposit on the spot;
neutrons, gammas and the binding energy leave.

p-p elastic (physics.elastic): isotropic in the centre-of-mass frame; the recoil takes
T2 = T (1 - cos theta*) / 2 and both lab angles follow from relativistic two-body kinematics.

Deuterons are carried on the proton tables at equal velocity: a particle of mass number a
stores the proton-equivalent energy T / a (see :mod:`.track`).
"""

from __future__ import annotations

import math

from .adapt import kernel_function
from .directions import turn
from .layout import (C_NONELASTIC_PRIMARY, C_NONELASTIC_SECONDARY, C_PP_ELASTIC, C_SECONDARY_PROTONS, C_STACK_FULL,
                     EMIT_LOCAL, EMIT_PROTONS, EMIT_QUANTILES, H_EMIT, H_EMIT_NQ, LOG_NODES, P_E, P_MASS, P_U, P_V,
                     P_W, P_X, P_Y, P_Z)
from .lookup import lerp, log_node, table_offset
from .rng import uniform
from .scoring import score_local

SECONDARY_MIN_MEV = 1.0
LOCAL_DEPOSIT_MIN_DENSITY = 0.05  # g/cm3: below this (air) fragments are not deposited on the spot
NUCLEAR_E_MIN_MEV = 1.0  # lower end of the nuclear tables' energy grid
PROTON_MASS_MEV = 938.272088
_TWO_PI = 2.0 * math.pi


@kernel_function
def push(stack, n_stack, x, y, z, u, v, w, e, mass):
    """Put a particle on the history's stack; returns the new count, or -1 if the stack is full."""
    if n_stack >= stack.shape[0]:
        return -1
    stack[n_stack, P_X] = x
    stack[n_stack, P_Y] = y
    stack[n_stack, P_Z] = z
    stack[n_stack, P_U] = u
    stack[n_stack, P_V] = v
    stack[n_stack, P_W] = w
    stack[n_stack, P_E] = e
    stack[n_stack, P_MASS] = mass
    return n_stack + 1


@kernel_function
def spectrum_quantile(tables, offset, i, w, stride, row, n_quantiles, u):
    """Emitted energy / incident energy at cumulative probability u, bilinear in (energy node, u)."""
    f = min(max(u * (n_quantiles - 1), 0.0), n_quantiles - 1 - 1e-4)
    j = int(f)
    t = f - j
    lo = offset + i * stride + row + j
    hi = lo + stride
    a = tables[lo] + t * (tables[lo + 1] - tables[lo])
    b = tables[hi] + t * (tables[hi + 1] - tables[hi])
    return a + w * (b - a)


@kernel_function
def nonelastic(header, tables, rng, stack, n_stack, acc, tally, rows, counters, voxel, material, density, primary,
               x, y, z, u, v, w, e):
    """A nonelastic event of a proton of energy e: local deposit, secondaries onto the stack.
    Returns the new stack count."""
    if primary:
        counters[C_NONELASTIC_PRIMARY] += 1
    else:
        counters[C_NONELASTIC_SECONDARY] += 1
    i, wt = log_node(header, H_EMIT, max(e, NUCLEAR_E_MIN_MEV))
    n_quantiles = int(header[H_EMIT_NQ])
    stride = EMIT_QUANTILES + 2 * n_quantiles
    offset = table_offset(header, H_EMIT) + material * int(header[H_EMIT + LOG_NODES]) * stride
    local = 0.0
    if density >= LOCAL_DEPOSIT_MIN_DENSITY:
        local = e * min(max(lerp(tables, offset, i, wt, stride, EMIT_LOCAL), 0.0), 1.0)
    for kind in range(2):  # 0: protons, 1: deuterons
        multiplicity = lerp(tables, offset, i, wt, stride, EMIT_PROTONS + kind)
        whole = math.floor(multiplicity)
        count = int(whole)
        if uniform(rng) < multiplicity - whole:
            count += 1
        mass = 1.0 + kind
        for _ in range(count):
            e_s = e * spectrum_quantile(tables, offset, i, wt, stride, EMIT_QUANTILES + kind * n_quantiles,
                                        n_quantiles, uniform(rng))
            if e_s < SECONDARY_MIN_MEV:
                local += e_s
                continue
            nu, nv, nw = turn(u, v, w, math.sqrt(min(max(e_s / max(e, 1e-6), 0.0), 1.0)), _TWO_PI * uniform(rng))
            pushed = push(stack, n_stack, x, y, z, nu, nv, nw, e_s / mass, mass)
            if pushed < 0:
                counters[C_STACK_FULL] += 1
                local += e_s
            else:
                n_stack = pushed
                counters[C_SECONDARY_PROTONS + kind] += 1
    score_local(acc, tally, rows, counters, voxel, local)
    return n_stack


@kernel_function
def pp_elastic(rng, stack, n_stack, acc, tally, rows, counters, voxel, x, y, z, u, v, w, e):
    """A p-p elastic event: (u, v, w, energy) of the scattered proton and the new stack count."""
    counters[C_PP_ELASTIC] += 1
    cos_cm = 2.0 * uniform(rng) - 1.0
    t2 = e * (1.0 - cos_cm) * 0.5
    gamma_cm = math.sqrt(1.0 + e / (2.0 * PROTON_MASS_MEV))
    sin_cm = math.sqrt(max(1.0 - cos_cm * cos_cm, 0.0))
    theta1 = math.atan2(sin_cm, gamma_cm * (1.0 + cos_cm))
    theta2 = math.atan2(sin_cm, gamma_cm * (1.0 - cos_cm))
    phi = _TWO_PI * uniform(rng)
    if t2 >= SECONDARY_MIN_MEV:
        ru, rv, rw = turn(u, v, w, math.cos(theta2), phi + math.pi)
        pushed = push(stack, n_stack, x, y, z, ru, rv, rw, t2, 1.0)
        if pushed < 0:
            counters[C_STACK_FULL] += 1
            score_local(acc, tally, rows, counters, voxel, t2)
        else:
            n_stack = pushed
            counters[C_SECONDARY_PROTONS] += 1
    else:
        score_local(acc, tally, rows, counters, voxel, t2)
    u, v, w = turn(u, v, w, math.cos(theta1), phi)
    return u, v, w, e - t2, n_stack
