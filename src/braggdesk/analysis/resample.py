"""A dose (or any scalar Volume) resampled onto another Volume's grid, trilinearly.

Why: a planning system writes its dose on its own grid (often coarser, with
another origin), our Monte Carlo dose lives on the CT grid.  Comparing them
(gamma, differences, DVHs on one mask) needs both on one grid.

Geometry goes through the affines (``index_to_patient``), so flipped or oblique
grids need no special case.  A target voxel centre is *inside* the source when it
lies within the source voxels' extent (up to half a voxel beyond the outer
voxel centres); between the outer centre and the edge the value of the outer
voxel is used.  Points outside get ``fill`` (0 or NaN).

:func:`trilinear` is written against ``xp`` (numpy or CuPy), so the gamma index
can use it on a GPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from braggdesk.model import Volume

_CHUNK_POINTS = 1 << 21  # points interpolated at once; bounds the temporary memory (~100 MB)


def trilinear(xp: Any, values, k, j, i, fill: float = np.nan):
    """Values of ``values[k, j, i]`` at fractional indices, trilinearly; outside -> ``fill``.

    ``k, j, i`` are arrays of the same shape (float).  "Outside" means more than half a
    voxel beyond the outer voxel centres along any axis; within that half voxel the
    indices are clamped, so a grid's values cover its whole voxel extent.
    """
    nk, nj, ni = values.shape
    inside = ((k >= -0.5) & (k <= nk - 0.5) & (j >= -0.5) & (j <= nj - 0.5) & (i >= -0.5) & (i <= ni - 0.5))
    k = xp.clip(k, 0, nk - 1)
    j = xp.clip(j, 0, nj - 1)
    i = xp.clip(i, 0, ni - 1)
    k0 = xp.minimum(xp.floor(k).astype(xp.int64), max(nk - 2, 0))
    j0 = xp.minimum(xp.floor(j).astype(xp.int64), max(nj - 2, 0))
    i0 = xp.minimum(xp.floor(i).astype(xp.int64), max(ni - 2, 0))
    fk, fj, fi = k - k0, j - j0, i - i0
    # a single-voxel axis has no neighbour: step 0 there
    sk, sj, si = (1 if nk > 1 else 0), (1 if nj > 1 else 0), (1 if ni > 1 else 0)
    flat = values.reshape(-1)
    base = (k0 * nj + j0) * ni + i0
    out = xp.zeros(k.shape, dtype=values.dtype if values.dtype.kind == "f" else xp.float64)
    for dk, wk in ((0, 1 - fk), (sk, fk)):
        for dj, wj in ((0, 1 - fj), (sj, fj)):
            wkj = wk * wj
            for di, wi in ((0, 1 - fi), (si, fi)):
                out += (wkj * wi) * flat[base + (dk * nj + dj) * ni + di]
    return xp.where(inside, out, fill)


def source_indices(source: Volume, target: Volume, k, j, i) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fractional (k, j, i) in ``source`` of the given target voxel indices."""
    m = source.patient_to_index() @ target.index_to_patient()
    si = m[0, 0] * i + m[0, 1] * j + m[0, 2] * k + m[0, 3]
    sj = m[1, 0] * i + m[1, 1] * j + m[1, 2] * k + m[1, 3]
    sk = m[2, 0] * i + m[2, 1] * j + m[2, 2] * k + m[2, 3]
    return sk, sj, si


def same_geometry(a: Volume, b: Volume, tolerance_mm: float = 1e-3) -> bool:
    """True when both grids have the same shape and put every voxel centre at the same place."""
    if a.shape != b.shape:
        return False
    return bool(np.allclose(a.index_to_patient(), b.index_to_patient(), atol=tolerance_mm, rtol=0))


def resample(source: Volume, target: Volume, *, outside: str = "zero", dtype=np.float32) -> np.ndarray:
    """``source.values`` on ``target``'s grid (indexed [k, j, i] like ``target.values``).

    ``outside`` is ``"zero"`` (dose convention: no dose where nothing was computed) or
    ``"nan"`` (to tell "outside" from "zero dose").  Identical geometry returns a copy.
    """
    if outside not in ("zero", "nan"):
        raise ValueError(f"outside must be 'zero' or 'nan', got {outside!r}")
    fill = 0.0 if outside == "zero" else np.nan
    if same_geometry(source, target):
        return np.array(source.values, dtype=dtype)  # one copy, not a float64 one first
    values = np.asarray(source.values, dtype=np.float64)
    nk, nj, ni = target.shape
    out = np.empty(nk * nj * ni, dtype=dtype)
    jj, ii = np.meshgrid(np.arange(nj, dtype=float), np.arange(ni, dtype=float), indexing="ij")
    jj, ii = jj.ravel(), ii.ravel()
    per_slice = nj * ni
    slices_per_chunk = max(1, _CHUNK_POINTS // max(per_slice, 1))
    for k_start in range(0, nk, slices_per_chunk):
        k_stop = min(nk, k_start + slices_per_chunk)
        kk = np.repeat(np.arange(k_start, k_stop, dtype=float), per_slice)
        n = k_stop - k_start
        sk, sj, si = source_indices(source, target, kk, np.tile(jj, n), np.tile(ii, n))
        out[k_start * per_slice:k_stop * per_slice] = trilinear(np, values, sk, sj, si, fill)
    return out.reshape(nk, nj, ni)


def resample_volume(source: Volume, target: Volume, *, outside: str = "zero") -> Volume:
    """:func:`resample` as a Volume with ``target``'s geometry."""
    return target.with_values(resample(source, target, outside=outside), unit=source.unit,
                              description=source.description)
