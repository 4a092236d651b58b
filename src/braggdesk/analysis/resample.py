"""Bring a scalar grid (an imported RTDOSE) onto another grid (the CT), trilinearly.

Viewers, DVHs and statistics work voxel by voxel on the CT grid; a planning
system's dose usually lives on its own coarser grid.  Points outside the source
grid get ``fill``.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import map_coordinates

from ..model import Volume


def resample_to_grid(source: Volume, target: Volume, fill: float = 0.0) -> np.ndarray:
    """``source.hu`` sampled at the voxel centres of ``target``; shape ``target.shape``, float32."""
    if (source.shape == target.shape and np.allclose(source.index_to_patient(), target.index_to_patient())):
        return np.asarray(source.hu, dtype=np.float32)
    nk, nj, ni = target.shape
    to_src = source.patient_to_index() @ target.index_to_patient()
    out = np.empty(target.shape, dtype=np.float32)
    jj, ii = np.meshgrid(np.arange(nj), np.arange(ni), indexing="ij")
    ones = np.ones_like(ii, dtype=float)
    for k in range(nk):  # slice by slice keeps memory small for big CTs
        idx = np.stack([ii.ravel(), jj.ravel(), np.full(ii.size, k, float), ones.ravel()])
        src = to_src @ idx  # (i, j, k, 1) in the source grid
        coords = np.stack([src[2], src[1], src[0]])  # map_coordinates wants [k, j, i]
        out[k] = map_coordinates(np.asarray(source.hu, np.float32), coords, order=1, mode="constant",
                                 cval=fill).reshape(nj, ni)
    return out
