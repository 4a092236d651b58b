"""Counter-based random numbers: Philox4x32-10, one stream per history.

Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC11 (2011), the
generator of Random123 and cuRAND.  A Philox block is a keyed bijection of a 128-bit counter:
the key is the job's (seed, batch) stream key (64 bits, from ``numpy.random.SeedSequence`` on the
host), the counter is (draw, 0, history_lo, history_hi).  So the numbers a history sees depend
on the seed, the batch and the history's index only: not on the thread that runs it, how many
threads there are, or which device.  That is what makes a dose the same bit for bit with 1 or N
threads.

The state of one stream is a small float64 array (every entry an integer below 2**32), so one
scratch array serves both targets:

    [0] key lo  [1] key hi  [2] history lo  [3] history hi  [4] next block
    [5..8] the current block's four outputs  [9] next output (4: block used up)
"""

from __future__ import annotations

import math

import numpy as np
from .adapt import kernel_function, kernel_leaf

RNG_STATE_SIZE = 10

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_INV_2_32 = 1.0 / 4294967296.0


@kernel_function
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """One Philox4x32-10 block: four uint32 outputs (as uint64) of the counter (c0..c3) under key (k0, k1)."""
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        n0 = (p1 >> _SHIFT32) ^ c1 ^ k0
        n1 = p1 & _MASK32
        n2 = (p0 >> _SHIFT32) ^ c3 ^ k1
        n3 = p0 & _MASK32
        c0, c1, c2, c3 = n0, n1, n2, n3
        k0 = (k0 + _W0) & _MASK32
        k1 = (k1 + _W1) & _MASK32
    return c0, c1, c2, c3


@kernel_function
def rng_start(state, key_lo, key_hi, history):
    """Point ``state`` at the first number of history ``history`` of the stream (key_lo, key_hi)."""
    state[0] = key_lo
    state[1] = key_hi
    state[2] = history & 0xFFFFFFFF
    state[3] = (history >> 32) & 0xFFFFFFFF
    state[4] = 0.0
    state[9] = 4.0


@kernel_leaf
def _next_u32(state):
    i = int(state[9])
    if i >= 4:
        o0, o1, o2, o3 = philox4x32_10(np.uint64(state[4]), np.uint64(0), np.uint64(state[2]),
                                       np.uint64(state[3]), np.uint64(state[0]), np.uint64(state[1]))
        state[5] = o0
        state[6] = o1
        state[7] = o2
        state[8] = o3
        state[4] += 1.0
        i = 0
    state[9] = i + 1
    return state[5 + i]


@kernel_leaf
def uniform(state):
    """A uniform number in the open interval (0, 1), 32 bits of resolution."""
    return (_next_u32(state) + 0.5) * _INV_2_32


@kernel_leaf
def exponential(state):
    """An exponential number of mean 1 (a number of mean free paths)."""
    return -math.log(uniform(state))


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Marsaglia and Tsang's 128-layer ziggurat for the normal distribution ("The Ziggurat Method for
    Generating Random Variables", J. Stat. Softw. 5 (2000)): layer edges k, widths w and heights f."""
    m1 = 2147483648.0
    dn = tn = 3.442619855899
    vn = 9.91256303526217e-3
    k = np.zeros(128)
    w = np.zeros(128)
    f = np.zeros(128)
    q = vn / math.exp(-0.5 * dn * dn)
    k[0] = dn / q * m1
    k[1] = 0.0
    w[0] = q / m1
    w[127] = dn / m1
    f[0] = 1.0
    f[127] = math.exp(-0.5 * dn * dn)
    for i in range(126, 0, -1):
        dn = math.sqrt(-2.0 * math.log(vn / dn + math.exp(-0.5 * dn * dn)))
        k[i + 1] = dn / tn * m1
        tn = dn
        f[i] = math.exp(-0.5 * dn * dn)
        w[i] = dn / m1
    return k, w, f


_ZIG_K, _ZIG_W, _ZIG_F = _ziggurat_tables()
_ZIG_R = 3.442619855899  # where the tail starts
_HALF_2_32 = 2147483648.0


@kernel_leaf
def normal(state):
    """A standard normal number by the ziggurat: one 32-bit number for the signed value, a second for
    the layer (so the two are independent), and 98.8 % of the time nothing else; the rest is the
    wedge test or the tail (Marsaglia's exponential method)."""
    while True:
        hz = _next_u32(state) - _HALF_2_32  # uniform on [-2^31, 2^31)
        iz = int(_next_u32(state)) & 127
        x = hz * _ZIG_W[iz]
        if abs(hz) < _ZIG_K[iz]:
            return x
        if iz == 0:  # the tail beyond r
            while True:
                t = -math.log(uniform(state)) / _ZIG_R
                y = -math.log(uniform(state))
                if y + y >= t * t:
                    break
            return _ZIG_R + t if hz > 0.0 else -_ZIG_R - t
        if _ZIG_F[iz] + uniform(state) * (_ZIG_F[iz - 1] - _ZIG_F[iz]) < math.exp(-0.5 * x * x):
            return x
