"""Fractional masks from contours: exact areas, holes, z slabs, any axial grid, and the 1 % volume requirement."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.path import Path as MplPath

from braggdesk.analysis.rasterize import (_pixel_fractions, contour_planes, even_odd_signs, plane_area_mm2,
                                          rasterize_roi, rasterize_structure_set, roi_volume_cm3)
from braggdesk.errors import InputError
from braggdesk.model import Roi, StructureSet, Volume


def _circle(cx, cy, r, z=None, n=96, ccw=True):
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False) * (1 if ccw else -1)
    xy = np.c_[cx + r * np.cos(t), cy + r * np.sin(t)]
    return xy if z is None else np.c_[xy, np.full(n, z)]


def _sphere(radius_mm, dz_mm, centre=(3.3, -7.1, 12.0), inner_mm=None, n=96) -> Roi:
    """A sphere (or a shell with a hole contour on every plane that cuts the inner sphere) on planes dz apart."""
    contours = []
    m = int(radius_mm / dz_mm) + 1
    for z in centre[2] + dz_mm * np.arange(-m, m + 1):
        dzc = z - centre[2]
        if abs(dzc) < radius_mm:
            contours.append(_circle(centre[0], centre[1], np.sqrt(radius_mm**2 - dzc**2), z, n))
        if inner_mm is not None and abs(dzc) < inner_mm:
            contours.append(_circle(centre[0], centre[1], np.sqrt(inner_mm**2 - dzc**2), z, n, ccw=False))
    return Roi(1, "sphere", contours=contours)


def _grid(spacing, centre=(3.3, -7.1, 12.0), n=(40, 40, 40), flip=False, shift=0.37) -> Volume:
    direction = np.diag([-1.0, 1.0, -1.0]) if flip else np.eye(3)
    half = np.array([n[2], n[1], n[0]]) / 2 - shift
    origin = np.asarray(centre) - direction @ (np.asarray(spacing) * half)
    return Volume(np.zeros(n, np.float32), spacing, origin, direction=direction, frame_of_reference_uid="1.2.3")


def _supersampled(polys, ni, nj, s=40):
    """Even-odd coverage per pixel by point sampling (an independent, approximate reference)."""
    sub = (np.arange(s) + 0.5) / s - 0.5
    jj, ii, sj, si = np.meshgrid(np.arange(nj), np.arange(ni), sub, sub, indexing="ij")
    pts = np.c_[(ii + si).ravel(), (jj + sj).ravel()]
    count = sum(MplPath(p).contains_points(pts).astype(int) for p in polys)
    return (count % 2).reshape(nj, ni, s * s).mean(axis=2)


def test_pixel_fractions_match_point_sampling_with_holes_and_several_contours():
    polys = [_circle(5.3, 4.2, 3.7, n=60), _circle(5.0, 4.0, 1.6, n=40, ccw=False), _circle(11.2, 3.1, 1.3, n=7),
             np.array([[-2.3, 8.1], [3.4, 9.9], [0.2, 12.7], [1.0, 10.0]])]  # the last one leaves the grid
    assert even_odd_signs(polys).tolist() == [1, -1, 1, 1]
    rows, cols, frac = _pixel_fractions(polys, even_odd_signs(polys), 14, 12)
    full = np.zeros((12, 14))
    full[rows, cols] = frac
    reference = _supersampled(polys, 14, 12)
    assert np.abs(full - reference).max() < 0.01
    assert full.min() >= 0.0 and full.max() <= 1.0
    inside_polys = polys[:3]
    rows, cols, frac = _pixel_fractions(inside_polys, even_odd_signs(inside_polys), 14, 12)
    assert frac.sum() == pytest.approx(plane_area_mm2(inside_polys), rel=1e-12)


def test_hole_is_a_hole_whatever_its_orientation():
    outer = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    inner = np.array([[3, 3], [7, 3], [7, 7], [3, 7]], float)  # same orientation as the outer contour
    assert plane_area_mm2([outer, inner]) == pytest.approx(84.0)
    assert plane_area_mm2([outer[::-1], inner]) == pytest.approx(84.0)
    island = inner * 0.25 + 4.0  # inside the hole: area again
    assert plane_area_mm2([outer, inner, island]) == pytest.approx(85.0)


@pytest.mark.parametrize("radius_mm, inner_mm, dz_mm", [(10.0, None, 2.0), (20.0, None, 2.0), (20.0, 18.0, 1.0)],
                         ids=["sphere 2 cm diameter", "sphere 2 cm radius", "shell 2 mm thick"])
@pytest.mark.parametrize("spacing, flip, shift", [((2.0, 2.0, 2.0), False, 0.0), ((1.0, 1.0, 1.0), False, 0.37),
                                                  ((1.3, 0.9, 1.7), True, 0.37), ((2.5, 2.5, 3.0), True, 0.11)],
                         ids=["aligned", "fine", "flipped anisotropic", "coarse flipped"])
def test_mask_volume_is_the_polygon_integrated_volume(radius_mm, inner_mm, dz_mm, spacing, flip, shift):
    roi = _sphere(radius_mm, dz_mm, inner_mm=inner_mm)
    exact = roi_volume_cm3(roi)
    n = int(2.6 * radius_mm / min(spacing)) + 4
    mask = rasterize_roi(roi, _grid(spacing, n=(n, n, n), flip=flip, shift=shift))
    # the issue asks for 1 %; the exact-area method reaches float32 rounding
    assert mask.volume_cm3 == pytest.approx(exact, rel=1e-5)
    assert mask.fraction.dtype == np.float32
    assert mask.fraction.min() >= 0.0 and mask.fraction.max() <= 1.0
    analytic = 4.0 / 3.0 * np.pi * (radius_mm**3 - (inner_mm or 0.0) ** 3) * 1e-3
    assert exact == pytest.approx(analytic, rel=0.03)  # 96-gon circles and dz slabs


def test_aligned_contours_fill_their_own_slices_only():
    roi = _sphere(10.0, 2.0, centre=(0.0, 0.0, 0.0))
    grid = Volume(np.zeros((20, 20, 20), np.float32), (2.0, 2.0, 2.0), (-19.0, -19.0, -20.0))  # slices at even z
    mask = rasterize_roi(roi, grid)
    filled = np.flatnonzero(mask.fraction.any(axis=(1, 2)))
    planes = sorted({float(c[0, 2]) for c in roi.contours})
    assert (grid.origin_mm[2] + 2.0 * filled).tolist() == planes
    # a grid shifted by half a slice splits every slab between two slices, conserving the volume
    shifted = Volume(np.zeros((21, 20, 20), np.float32), (2.0, 2.0, 2.0), (-19.0, -19.0, -21.0))
    half = rasterize_roi(roi, shifted)
    assert np.count_nonzero(half.fraction.any(axis=(1, 2))) == len(planes) + 1
    assert half.volume_cm3 == pytest.approx(mask.volume_cm3, rel=1e-6)


def test_slabs_do_not_overlap_with_irregular_contour_spacing():
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    roi = Roi(1, "box", contours=[np.c_[square, np.full(4, z)] for z in (0.0, 2.0, 4.0, 5.0, 6.0, 8.0)])
    planes = contour_planes(roi)
    for a, b in zip(planes, planes[1:]):
        assert a.z_high_mm <= b.z_low_mm + 1e-12
    assert roi_volume_cm3(roi) == pytest.approx(100.0 * 10.0 * 1e-3)  # slabs tile -1 .. 9 mm


def test_contours_partly_outside_the_grid_are_clipped():
    square = np.array([[-5, -5], [5, -5], [5, 5], [-5, 5]], float)
    roi = Roi(1, "edge", contours=[np.c_[square, np.full(4, 0.0)]])
    grid = Volume(np.zeros((1, 10, 10), np.float32), (1.0, 1.0, 1.0), (0.5, -4.5, 0.0))  # covers x 0..10
    mask = rasterize_roi(roi, grid)
    assert mask.volume_cm3 == pytest.approx(50.0 * 1e-3)
    assert mask.fraction[0, :, :5].min() == 1.0 and mask.fraction[0, :, 5:].max() == 0.0


def test_single_plane_roi_and_bad_geometry():
    roi = Roi(1, "slice", contours=[np.c_[_circle(0, 0, 5), np.zeros(96)]])
    with pytest.raises(InputError, match="single plane"):
        roi_volume_cm3(roi)
    assert roi_volume_cm3(roi, slice_thickness_mm=2.0) == pytest.approx(plane_area_mm2([_circle(0, 0, 5)]) * 2e-3)
    tilted = Roi(2, "tilted", contours=[np.array([[0, 0, 0], [5, 0, 1], [5, 5, 2]], float)])
    with pytest.raises(InputError, match="not axial"):
        rasterize_roi(tilted, _grid((1.0, 1.0, 1.0)))
    sagittal = _grid((1.0, 1.0, 1.0))
    sagittal.direction = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], float)
    with pytest.raises(ValueError, match="not axial"):
        rasterize_roi(roi, sagittal)


def test_structure_set_skips_points_and_refuses_another_frame_of_reference():
    sphere = _sphere(10.0, 2.0)
    point = Roi(2, "iso", roi_type="MARKER", points_mm=np.zeros((1, 3)))
    empty = Roi(3, "empty")
    ss = StructureSet([sphere, point, empty], frame_of_reference_uid="1.2.3", source_path="RS.dcm")
    grid = _grid((2.0, 2.0, 2.0))
    assert [m.name for m in rasterize_structure_set(ss, grid)] == ["sphere"]
    ss.frame_of_reference_uid = "9.9.9"
    with pytest.raises(InputError, match="RS.dcm.*frame of reference"):
        rasterize_structure_set(ss, grid)
