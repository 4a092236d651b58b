"""Small compiled drivers that call the kernel's own functions on chosen particles, so a test can
check one piece of the physics (an event's sampling, a particle's track) in isolation."""

from __future__ import annotations

import numpy as np
from numba import njit

from braggdesk.engine.device import select_device
from braggdesk.engine.executor import NO_ROWS
from braggdesk.engine.kernel.interactions import nonelastic
from braggdesk.engine.kernel.layout import (ACC_ROWS, ACC_SLOTS_CPU, MAX_SEGMENTS, N_COUNTERS, PARTICLE_FIELDS,
                                            SEGMENT_FIELDS, TALLY_ROWS)
from braggdesk.engine.kernel.rng import RNG_STATE_SIZE, rng_start
from braggdesk.engine.kernel.scoring import flush, reset_accumulator
from braggdesk.engine.kernel.track import transport
from braggdesk.engine.simulate import prepare


def kernel_inputs(job):
    return prepare(job, select_device("cpu", 1)).inputs


def scratch(n_voxels: int, stack_size: int):
    acc = np.zeros((ACC_ROWS, ACC_SLOTS_CPU + 1), dtype=np.int64)
    reset_accumulator(acc)
    return (np.zeros(RNG_STATE_SIZE), np.zeros((stack_size, 8)), acc, np.zeros(TALLY_ROWS * n_voxels, np.int64),
            np.zeros(N_COUNTERS, np.int64))


@njit
def _events(header, tables, n, e0, key, rng, stack, acc, tally, counters, children, local):
    n_children = 0
    for k in range(n):
        rng_start(rng, key, 0, k)
        before = tally[3]  # voxel 0's nuclear-local sum
        n_stack = nonelastic(header, tables, rng, stack, 0, acc, tally, NO_ROWS, counters, 0, 0, 1.0, True,
                             0.0, 0.0, 0.0, 0.0, 1.0, 0.0, e0)
        flush(acc, tally, NO_ROWS)
        local[k] = (tally[3] - before) * 1e-6
        for j in range(n_stack):
            for f in range(stack.shape[1]):
                children[n_children, f] = stack[j, f]
            n_children += 1
    return n_children


def nonelastic_events(inputs, n: int, e0_mev: float, key: int = 5):
    """n nonelastic events of protons of e0 going +y in voxel 0 (material 0, density 1):
    (secondaries [k, PARTICLE_FIELDS], energy left on the spot per event [MeV], counters)."""
    rng, stack, acc, tally, counters = scratch(inputs.n_voxels, 64)
    children = np.zeros((n * 8, PARTICLE_FIELDS))
    local = np.zeros(n)
    k = _events(inputs.header, inputs.tables, n, e0_mev, key, rng, stack, acc, tally, counters, children, local)
    return children[:k], local, counters


@njit
def _tracks(header, tables, voxels, particles, key, rng, stack, acc, tally, counters):
    for k in range(particles.shape[0]):
        rng_start(rng, key, 0, k)
        p = particles[k]
        n_stack = transport(header, tables, voxels, rng, stack, 0, acc, tally, NO_ROWS, counters,
                            np.zeros((MAX_SEGMENTS, SEGMENT_FIELDS)), True,
                            p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7])
        flush(acc, tally, NO_ROWS)
        if n_stack != 0:
            return -1
    return 0


def track_particles(inputs, particles: np.ndarray, key: int = 1) -> np.ndarray:
    """Transport particles [k, (x, y, z, u, v, w, e, mass)] (no secondaries may be made): energy per voxel [MeV]."""
    rng, stack, acc, tally, counters = scratch(inputs.n_voxels, 8)
    if _tracks(inputs.header, inputs.tables, inputs.voxels, particles, key, rng, stack, acc, tally, counters) != 0:
        raise AssertionError("the tracks made secondaries")
    return tally.reshape(-1, TALLY_ROWS)[:, 0] * 1e-6
