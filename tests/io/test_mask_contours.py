"""Voxel masks traced into contours that hold exactly the mask's voxels."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.analysis.rasterize import plane_area_mm2, rasterize_roi, roi_volume_cm3
from braggdesk.io.mask_contours import mask_contours, slice_loops
from braggdesk.model import Roi, Volume


def test_ring_gives_an_outer_loop_and_a_hole():
    m = np.zeros((7, 7), bool)
    m[1:6, 1:6] = True
    m[3, 3] = False
    loops = slice_loops(m)
    assert len(loops) == 2 and sorted(len(p) for p in loops) == [4, 4]  # collinear corners dropped
    assert plane_area_mm2([p.astype(float) for p in loops]) == 24.0


def test_diagonal_neighbours_stay_separate_loops():
    m = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], bool)
    loops = slice_loops(m)
    assert len(loops) == 5 and all(len(p) == 4 for p in loops)
    assert plane_area_mm2([p.astype(float) for p in loops]) == 5.0


@pytest.mark.parametrize("flip", [False, True])
def test_random_masks_round_trip_exactly(flip):
    rng = np.random.default_rng(11)
    mask = rng.random((6, 15, 17)) < 0.45
    direction = np.diag([1.0, -1.0, -1.0]) if flip else np.eye(3)
    grid = Volume(np.zeros(mask.shape, np.float32), (1.2, 0.8, 2.5), (-3.0, 4.0, 10.0), direction=direction)
    roi = Roi(1, "noise", contours=mask_contours(mask, grid))
    back = rasterize_roi(roi, grid)
    np.testing.assert_array_equal(back.fraction, mask.astype(np.float32))
    assert roi_volume_cm3(roi) == pytest.approx(mask.sum() * grid.voxel_volume_cm3, rel=1e-12)
