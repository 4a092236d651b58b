"""A direction written in the frame of another one, and back: how a stored track keeps its secondaries'
and elastic turns' directions independent of the direction it was recorded in, so that the re-tracer
can rotate the whole track into any beam direction (track repeating, Li et al. 2005)."""

from __future__ import annotations

from .adapt import kernel_leaf
from .directions import normalised, perpendicular_axes


@kernel_leaf
def to_frame(u, v, w, du, dv, dw):
    """Components (a, b, d) of direction (du, dv, dw) on the axes of :func:`perpendicular_axes` (u, v, w)."""
    ax, ay, az, bx, by, bz = perpendicular_axes(u, v, w)
    return ax * du + ay * dv + az * dw, bx * du + by * dv + bz * dw, u * du + v * dv + w * dw


@kernel_leaf
def from_frame(u, v, w, ca, cb, cd):
    """The direction whose components on the frame of (u, v, w) are (ca, cb, cd)."""
    ax, ay, az, bx, by, bz = perpendicular_axes(u, v, w)
    return normalised(ca * ax + cb * bx + cd * u, ca * ay + cb * by + cd * v, ca * az + cb * bz + cd * w)
