"""The voxel grid as the kernel sees it: the box [0, n d) along i, j, k in mm, the voxel a point
lies in, and how far a straight line goes before it crosses the voxel's next face.

Steps end ``BOUNDARY_PUSH_MM`` past a face, so that the next step finds the next voxel even when
rounding would leave the point on the face itself; 10 nm is far below any voxel and far above the
rounding of a float64 position.
"""

from __future__ import annotations

import math

from .adapt import kernel_function, kernel_leaf

BOUNDARY_PUSH_MM = 1e-5
_FAR_MM = 1e30


@kernel_leaf
def voxel_index(x, d, n):
    """Index of the voxel along one axis that holds coordinate x, or -1 outside [0, n d)."""
    if x < 0.0:
        return -1
    i = int(math.floor(x / d))
    return i if i < n else -1


@kernel_leaf
def inverse(u):
    """1 / u for a direction cosine, 0 for one too close to 0 to cross a face."""
    return 1.0 / u if abs(u) > 1e-12 else 0.0


@kernel_leaf
def face_distance(x, inv_u, i, d):
    """Distance along an axis (given 1 / its direction cosine) from x to just past the face of voxel i ahead."""
    if inv_u > 0.0:
        return ((i + 1) * d + BOUNDARY_PUSH_MM - x) * inv_u
    if inv_u < 0.0:
        return (i * d - BOUNDARY_PUSH_MM - x) * inv_u
    return _FAR_MM


@kernel_leaf
def _slab(x, u, size):
    if abs(u) < 1e-12:
        if 0.0 <= x <= size:
            return -_FAR_MM, _FAR_MM
        return _FAR_MM, -_FAR_MM
    t0 = -x / u
    t1 = (size - x) / u
    return min(t0, t1), max(t0, t1)


@kernel_function
def box_entry(x, y, z, u, v, w, size_i, size_j, size_k):
    """Distances along the ray to where it enters and leaves the box [0, size]; t_in >= t_out if it misses."""
    a0, a1 = _slab(x, u, size_i)
    b0, b1 = _slab(y, v, size_j)
    c0, c1 = _slab(z, w, size_k)
    return max(a0, b0, c0), min(a1, b1, c1)
