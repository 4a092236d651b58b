"""Voxel masks to RTSTRUCT contours that enclose exactly the mask's voxels.

Used where anatomy comes as voxel masks (OpenKBP CSV, built-in phantoms) and
must be written as an RT Structure Set.  Each axial slice of the mask is traced
along pixel edges, so a contour's area is exactly its pixels' area: read back
and integrated (sum of areas times slice spacing) or rasterized onto the same
grid, the structure has exactly the mask's voxels.  Outer boundaries and holes
come out as separate closed loops, as the even-odd rule of RTSTRUCT expects.
Where two pixels touch only at a corner the loops are kept apart (each pixel
group is 4-connected), so loops meet at single points and never cross.
Collinear points are dropped.
"""

from __future__ import annotations

import numpy as np

from braggdesk.model import Volume

# each pixel side whose neighbour is outside, walked counter-clockwise around the pixel in (i, j) corner
# coordinates: (neighbour offset dj, di), (start corner), (end corner), relative to the pixel's corner (i, j)
_SIDES = (((-1, 0), (0, 0), (1, 0)),   # side at j (toward row j - 1): i -> i + 1
          ((0, 1), (1, 0), (1, 1)),    # side at i + 1: j -> j + 1
          ((1, 0), (1, 1), (0, 1)),    # side at j + 1: i + 1 -> i
          ((0, -1), (0, 1), (0, 0)))   # side at i: j + 1 -> j


def slice_loops(mask2d: np.ndarray) -> list[np.ndarray]:
    """Closed loops (m, 2) of pixel-corner coordinates (i, j) around the True pixels of one slice.

    Corner (i, j) is the corner shared by pixels (j - 1, i - 1) .. (j, i); in
    continuous pixel indices it sits at (i - 0.5, j - 0.5).
    """
    m = np.pad(np.asarray(mask2d, dtype=bool), 1)
    starts, ends = [], []
    inside = m[1:-1, 1:-1]
    for (dj, di), s, e in _SIDES:
        neighbour = m[1 + dj:m.shape[0] - 1 + dj, 1 + di:m.shape[1] - 1 + di]
        jj, ii = np.nonzero(inside & ~neighbour)
        starts.append(np.c_[ii + s[0], jj + s[1]])
        ends.append(np.c_[ii + e[0], jj + e[1]])
    start = np.concatenate(starts)
    end = np.concatenate(ends)
    if not len(start):
        return []
    outgoing: dict[tuple[int, int], list[int]] = {}
    for n, (i, j) in enumerate(start.tolist()):
        outgoing.setdefault((i, j), []).append(n)
    used = np.zeros(len(start), dtype=bool)
    loops = []
    for first in range(len(start)):
        if used[first]:
            continue
        points = []
        edge = first
        while not used[edge]:
            used[edge] = True
            points.append(start[edge])
            here = (int(end[edge][0]), int(end[edge][1]))
            candidates = [c for c in outgoing[here] if not used[c]]
            if not candidates:
                break
            if len(candidates) > 1:  # a corner where two pixels touch diagonally: turn left, keep pixels apart
                incoming = end[edge] - start[edge]
                candidates.sort(key=lambda c: -_cross(incoming, end[c] - start[c]))
            edge = candidates[0]
        loops.append(_drop_collinear(np.asarray(points)))
    return loops


def _cross(a: np.ndarray, b: np.ndarray) -> int:
    return int(a[0] * b[1] - a[1] * b[0])


def _drop_collinear(points: np.ndarray) -> np.ndarray:
    prev = np.roll(points, 1, axis=0)
    nxt = np.roll(points, -1, axis=0)
    d1 = points - prev
    d2 = nxt - points
    turn = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    return points[turn != 0]


def mask_contours(mask: np.ndarray, grid: Volume) -> list[np.ndarray]:
    """Closed planar contours (n, 3) in patient mm around the True voxels of ``mask`` (indexed like grid.values)."""
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != grid.shape:
        raise ValueError(f"mask has shape {mask.shape}, the grid {grid.shape}")
    affine = grid.index_to_patient()
    contours = []
    for k in np.flatnonzero(mask.any(axis=(1, 2))):
        for loop in slice_loops(mask[k]):
            ijk1 = np.c_[loop - 0.5, np.full(len(loop), float(k)), np.ones(len(loop))]
            contours.append((ijk1 @ affine.T)[:, :3])
    return contours
