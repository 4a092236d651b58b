"""Resampling a dose onto another grid, and profiles / depth doses / difference maps read from it."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.analysis.profiles import depth_dose, dose_difference, line_profile, sample_points
from braggdesk.analysis.resample import resample, resample_volume, same_geometry
from braggdesk.model import Volume


def _linear(grid: Volume) -> np.ndarray:
    x, y, z = grid.axis_coordinates_mm()
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    return (1.0 + 0.1 * xx - 0.05 * yy + 0.02 * zz).astype(np.float32)


def test_trilinear_is_exact_for_a_linear_field_on_another_grid():
    src = Volume(np.zeros((10, 12, 14)), (3.0, 3.0, 2.5), (-20.0, -15.0, -10.0))
    src = src.with_values(_linear(src))
    dst = Volume(np.zeros((7, 9, 11)), (1.7, 2.1, 1.9), (-12.0, -9.0, -4.0))
    out = resample(src, dst)
    assert out.shape == dst.shape and out.dtype == np.float32
    assert np.allclose(out, _linear(dst), atol=1e-4)
    assert resample_volume(src, dst).shape == dst.shape


def test_flipped_source_axes_land_in_the_same_place():
    src = Volume(np.zeros((6, 8, 10)), (2.0, 2.0, 2.0), (9.0, 7.0, 5.0), direction=np.diag([-1.0, -1.0, -1.0]))
    x, y, z = 9.0 - 2.0 * np.arange(10), 7.0 - 2.0 * np.arange(8), 5.0 - 2.0 * np.arange(6)
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    src = src.with_values((1.0 + 0.1 * xx - 0.05 * yy + 0.02 * zz).astype(np.float32))
    dst = Volume(np.zeros((4, 5, 6)), (1.5, 1.5, 1.5), (-8.0, -6.0, -4.0))
    assert np.allclose(resample(src, dst), _linear(dst), atol=1e-4)


def test_outside_is_zero_or_nan_and_same_geometry_is_a_copy():
    src = Volume(np.ones((4, 4, 4), np.float32), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))
    dst = Volume(np.zeros((1, 1, 3)), (4.0, 1.0, 1.0), (-4.0, 2.0, 2.0))  # x = -4, 0, 4 mm
    assert resample(src, dst).tolist() == [[[0.0, 1.0, 1.0]]]
    assert np.isnan(resample(src, dst, outside="nan")[0, 0, 0])
    copy = resample(src, src)
    assert same_geometry(src, src) and copy is not src.values and np.array_equal(copy, src.values)
    with pytest.raises(ValueError):
        resample(src, dst, outside="edge")


def test_profiles_depth_dose_and_range():
    grid = Volume(np.zeros((5, 5, 101)), (1.0, 1.0, 1.0), (0.0, -2.0, -2.0))
    x, _, _ = grid.axis_coordinates_mm()
    # a ramp to a peak at 60 mm and a linear fall to 0 at 80 mm: R80 at 64 mm, 80-20 fall-off 12 mm
    ddd = np.where(x <= 60, 0.5 + x / 120.0, np.clip(1.0 - (x - 60) / 20.0, 0, None))
    grid = grid.with_values(np.broadcast_to(ddd, grid.shape).astype(np.float32))
    prof = depth_dose(grid, (0.0, 0.0, 0.0), (2.0, 0.0, 0.0), 100.0, step_mm=0.5)
    assert prof.distance_mm[-1] == pytest.approx(100.0) and len(prof.values) == 201
    assert prof.distal_depth_mm(80) == pytest.approx(64.0, abs=1e-6)
    assert prof.distal_falloff_mm() == pytest.approx(12.0, abs=1e-6)
    diagonal = line_profile(grid, (10.0, -1.0, 0.0), (20.0, 1.0, 0.0))
    assert np.allclose(diagonal.values, 0.5 + diagonal.positions_mm[:, 0] / 120.0, atol=1e-6)
    assert np.isnan(sample_points(grid, np.array([[200.0, 0.0, 0.0]]))[0])


def test_dose_difference_maps():
    ref = Volume(np.full((3, 3, 3), 2.0, np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    ev = ref.with_values(np.full((3, 3, 3), 2.1, np.float32))
    assert np.allclose(dose_difference(ref, ev, relative_to="gy"), 0.1)
    assert np.allclose(dose_difference(ref, ev), 5.0)
    assert np.allclose(dose_difference(ref, ev, relative_to="max", normalisation_gy=4.0), 2.5)
    assert np.allclose(dose_difference(ref, ev, relative_to="local"), 5.0)


def test_resample_shifts_by_whole_voxels_exactly():
    src = Volume(np.arange(60, dtype=np.float32).reshape(3, 4, 5), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))
    target = Volume(np.zeros((3, 4, 4), np.float32), (2.0, 2.0, 2.0), (2.0, 0.0, 0.0))
    out = resample(src, target)
    assert np.array_equal(out, src.values[:, :, 1:])
    assert np.array_equal(resample(src, src), src.values)
