"""Contours of an ROI to a fractional (partial-volume) mask on an axial grid, and ROI volumes.

Why exact areas and not supersampling: a DVH of a small structure (a 2 cm
sphere is a few hundred 2 mm voxels) is only as good as its mask volume, and
point sampling errs by a good fraction of the boundary voxels.  Here each
voxel's in-plane fraction is the exact area of the polygons inside its pixel.
Every polygon edge is split where it crosses pixel boundaries; each piece adds
the trapezoid between itself and its pixel's right edge to that pixel and its
full height to every pixel further right (a running sum along the row), the
classic signed-area scan conversion of font rasterizers.

Several contours on one plane combine by the even-odd rule, the DICOM
convention for holes: a contour inside an odd number of others is a hole.
Contours that do not cross each other (nested or apart) are the case the rule
is defined for; each is counted positive or negative by its nesting depth.

Along z every contour plane stands for a slab: centred on the plane, as thick
as the ROI's contour spacing (the median gap between its planes; the grid's
slice spacing for a single plane), cut halfway to a nearer neighbour plane so
slabs never overlap.  A grid slice takes from each slab the part of the slab
inside it, so the mask volume equals the polygon-integrated volume
(sum of areas times slab thickness, :func:`roi_volume_cm3`) on any axial grid:
finer, coarser, shifted or flipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from braggdesk.errors import InputError
from braggdesk.model import Roi, StructureMask, StructureSet, Volume

SAME_PLANE_MM = 0.01  # contours whose z differ by less share a plane
_SNAP = 1e-6  # fractions this close to 0 or 1 are exactly 0 or 1 (rounding noise)


@dataclass(frozen=True)
class ContourPlane:
    """The contours of one ROI on one axial plane, and the slab of z the plane stands for."""

    z_mm: float
    polygons_xy: tuple[np.ndarray, ...]  # (n, 2) patient x, y in mm
    z_low_mm: float
    z_high_mm: float

    @property
    def thickness_mm(self) -> float:
        return self.z_high_mm - self.z_low_mm


# ----------------------------------------------------------------------------------------- polygons


def signed_area(xy: np.ndarray) -> float:
    """Shoelace area of a closed polygon, positive when counter-clockwise in (x, y)."""
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]) + x[-1] * y[0] - x[0] * y[-1])


def _inside(point: np.ndarray, xy: np.ndarray) -> bool:
    """Even-odd (crossing number) test of one point against one polygon."""
    x0, y0 = xy[:, 0], xy[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = (y0 > point[1]) != (y1 > point[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x0 + (point[1] - y0) * (x1 - x0) / (y1 - y0)
    return bool(np.count_nonzero(crosses & (point[0] < x_at)) % 2)


def even_odd_signs(polygons: list[np.ndarray] | tuple[np.ndarray, ...]) -> np.ndarray:
    """+1 for a contour that adds area, -1 for a hole: (-1) ** (number of contours around it)."""
    signs = np.ones(len(polygons))
    if len(polygons) < 2:
        return signs
    boxes = [(p.min(axis=0), p.max(axis=0)) for p in polygons]
    for a, poly in enumerate(polygons):
        depth = 0
        # the middle of the first edge: unlike a vertex, not shared by contours that touch at a corner
        point = 0.5 * (poly[0] + poly[1])
        for b, other in enumerate(polygons):
            if a == b:
                continue
            lo, hi = boxes[b]
            if np.all(point >= lo) and np.all(point <= hi) and _inside(point, other):
                depth += 1
        signs[a] = -1.0 if depth % 2 else 1.0
    return signs


def plane_area_mm2(polygons: list[np.ndarray] | tuple[np.ndarray, ...]) -> float:
    """Area enclosed by the contours of one plane under the even-odd rule, mm2."""
    signs = even_odd_signs(polygons)
    return float(sum(s * abs(signed_area(p)) for s, p in zip(signs, polygons)))


# ----------------------------------------------------------------------------------------- planes


def contour_planes(roi: Roi, single_plane_thickness_mm: float | None = None) -> list[ContourPlane]:
    """The ROI's closed contours grouped into axial planes (sorted by z), each with its slab.

    Raises InputError for a contour that is not axial (its z varies), which no
    axial grid can take.  A single-plane ROI needs ``single_plane_thickness_mm``.
    """
    if not roi.contours:
        return []
    zs = []
    for n, xyz in enumerate(roi.contours, start=1):
        xyz = np.asarray(xyz, dtype=float)
        if np.ptp(xyz[:, 2]) > SAME_PLANE_MM:
            raise InputError(None, f"ROI {roi.name!r}: contour {n} is not axial (its z spans "
                                   f"{np.ptp(xyz[:, 2]):.3f} mm); only axial contours can be rasterized or "
                                   f"integrated")
        zs.append(float(xyz[:, 2].mean()))
    order = np.argsort(zs, kind="stable")
    groups: list[list[int]] = []
    for idx in order:
        if groups and zs[idx] - zs[groups[-1][0]] <= SAME_PLANE_MM:
            groups[-1].append(int(idx))
        else:
            groups.append([int(idx)])
    plane_z = np.array([np.mean([zs[i] for i in g]) for g in groups])
    gaps = np.diff(plane_z)
    if len(gaps):
        thickness = float(np.median(gaps))
    elif single_plane_thickness_mm is not None and single_plane_thickness_mm > 0:
        thickness = float(single_plane_thickness_mm)
    else:
        raise InputError(None, f"ROI {roi.name!r} has contours on a single plane (z = {plane_z[0]:g} mm), so its "
                               f"thickness is unknown; give the slice thickness")
    half = thickness / 2
    below = np.concatenate([[half], np.minimum(gaps / 2, half)])
    above = np.concatenate([np.minimum(gaps / 2, half), [half]])
    return [ContourPlane(z_mm=float(z), polygons_xy=tuple(np.asarray(roi.contours[i], dtype=float)[:, :2] for i in g),
                         z_low_mm=float(z - lo), z_high_mm=float(z + hi))
            for z, g, lo, hi in zip(plane_z, groups, below, above)]


def roi_volume_cm3(roi: Roi, slice_thickness_mm: float | None = None) -> float:
    """Polygon-integrated volume of an ROI (even-odd areas times slab thickness), cm3, without any grid.

    ``slice_thickness_mm`` is only used for an ROI drawn on a single plane.
    POINT, open-contour and empty ROIs have volume 0.
    """
    planes = contour_planes(roi, slice_thickness_mm)
    return sum(plane_area_mm2(p.polygons_xy) * p.thickness_mm for p in planes) * 1e-3


# ----------------------------------------------------------------------------------------- rasterizing


def _axial_geometry(grid: Volume) -> tuple[np.ndarray, np.ndarray, float, float]:
    """In-plane patient->index map (2x2 and offset) and z->k (scale, offset); ValueError for a non-axial grid."""
    d = np.asarray(grid.direction, dtype=float)
    if abs(abs(d[2, 2]) - 1.0) > 1e-6 or np.any(np.abs(d[2, :2]) > 1e-6) or np.any(np.abs(d[:2, 2]) > 1e-6):
        raise ValueError(f"the grid's slices are not axial (direction {d.tolist()}); contours can only be "
                         f"rasterized onto an axial grid")
    di, dj, dk = grid.spacing_mm
    to_index = np.linalg.inv(d[:2, :2] * np.array([di, dj])[None, :])  # (x, y) -> (i, j)
    origin = np.asarray(grid.origin_mm, dtype=float)
    k_per_mm = 1.0 / (d[2, 2] * dk)
    return to_index, origin, k_per_mm, origin[2]


def _pixel_fractions(polygons_ij: list[np.ndarray], signs: np.ndarray, ni: int, nj: int):
    """Exact even-odd area fraction of each pixel; returns (row slice, column slice, fractions) or None.

    Coordinates are continuous pixel indices: pixel (j, i) covers
    [i - 0.5, i + 0.5] x [j - 0.5, j + 0.5].
    """
    start = polygons_ij
    first = np.concatenate(start) + 0.5
    second = np.concatenate([np.concatenate((p[1:], p[:1])) for p in start]) + 0.5
    u0, v0, u1, v1 = first[:, 0], first[:, 1], second[:, 0], second[:, 1]
    # the coverage of a polygon comes out as minus its signed area: orient every contour by its even-odd sign
    weight = np.concatenate([np.full(len(p), -s * np.sign(signed_area(p))) for p, s in zip(start, signs)])
    keep = (v0 != v1) & (weight != 0)  # horizontal edges add nothing
    u0, v0, u1, v1, weight = u0[keep], v0[keep], u1[keep], v1[keep], weight[keep]
    if not len(u0):
        return None
    r_lo = max(0, int(np.floor(min(v0.min(), v1.min()))))
    r_hi = min(nj - 1, int(np.floor(max(v0.max(), v1.max()))))
    c_lo = max(0, int(np.floor(min(u0.min(), u1.min()))))
    c_hi = min(ni - 1, int(np.floor(max(u0.max(), u1.max()))))
    if r_lo > r_hi or c_lo > c_hi:
        return None
    du, dv = u1 - u0, v1 - v0

    n_edges = len(u0)
    edge = np.arange(n_edges)
    t_parts, e_parts = [np.zeros(n_edges), np.ones(n_edges)], [edge, edge]
    # split at pixel boundaries inside the box only: pieces outside it need no finer division
    for a0, a1, da, lo, hi in ((u0, u1, du, c_lo, c_hi + 1), (v0, v1, dv, r_lo, r_hi + 1)):
        first = np.maximum(np.floor(np.minimum(a0, a1)) + 1, lo)
        last = np.minimum(np.ceil(np.maximum(a0, a1)) - 1, hi)
        count = np.maximum(0, last - first + 1).astype(np.int64)
        total = int(count.sum())
        if total:
            e = np.repeat(edge, count)
            offsets = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
            m = first[e] + offsets
            t_parts.append((m - a0[e]) / da[e])
            e_parts.append(e)
    t_all = np.concatenate(t_parts)
    e_all = np.concatenate(e_parts)
    order = np.lexsort((t_all, e_all))
    t_all, e_all = t_all[order], e_all[order]
    piece = (e_all[:-1] == e_all[1:]) & (t_all[1:] > t_all[:-1])
    e = e_all[:-1][piece]
    ta, tb = t_all[:-1][piece], t_all[1:][piece]

    tm = 0.5 * (ta + tb)
    um = u0[e] + tm * du[e]
    vm = v0[e] + tm * dv[e]
    dy = (tb - ta) * dv[e] * weight[e]
    col = np.floor(um).astype(np.int64)
    row = np.floor(vm).astype(np.int64) - r_lo
    height, width = r_hi - r_lo + 1, c_hi - c_lo + 1
    in_rows = (row >= 0) & (row < height)
    left = in_rows & (col < c_lo)  # left of the box: every pixel of the row is to its right
    inside = in_rows & (col >= c_lo) & (col <= c_hi)
    local = col - c_lo
    stride = width + 1
    index = np.concatenate([row[inside] * stride + local[inside],  # trapezoid within its pixel
                            row[inside] * stride + local[inside] + 1 + height * stride,  # full height further right
                            row[left] * stride + height * stride])
    values = np.concatenate([dy[inside] * (col[inside] + 1 - um[inside]), dy[inside], dy[left]])
    sums = np.bincount(index, weights=values, minlength=2 * height * stride)
    area = sums[:height * stride].reshape(height, stride)
    cover = np.cumsum(sums[height * stride:].reshape(height, stride), axis=1)
    fraction = (area + cover)[:, :width]
    fraction[np.abs(fraction) < _SNAP] = 0.0
    fraction[np.abs(fraction - 1.0) < _SNAP] = 1.0
    return slice(r_lo, r_hi + 1), slice(c_lo, c_hi + 1), fraction


def _slab_weights(z_low_mm: float, z_high_mm: float, k_per_mm: float, z0_mm: float, nk: int) -> list[tuple[int, float]]:
    """(k, fraction of grid slice k's thickness inside the slab) for every grid slice the slab touches."""
    a, b = sorted(((z_low_mm - z0_mm) * k_per_mm, (z_high_mm - z0_mm) * k_per_mm))
    # snap slab ends that fall on slice boundaries to them, so aligned grids get weights of exactly 1
    a_snap, b_snap = np.round(a - 0.5) + 0.5, np.round(b - 0.5) + 0.5
    a = a_snap if abs(a - a_snap) < 1e-6 else a
    b = b_snap if abs(b - b_snap) < 1e-6 else b
    out = []
    for k in range(max(0, int(np.floor(a + 0.5))), min(nk - 1, int(np.ceil(b - 0.5))) + 1):
        w = min(b, k + 0.5) - max(a, k - 0.5)
        if w > _SNAP:
            out.append((k, 1.0 if w > 1.0 - _SNAP else float(w)))
    return out


def rasterize_roi(roi: Roi, grid: Volume) -> StructureMask:
    """The ROI as a float32 fractional mask on ``grid`` (any axial grid; the grid's HU are not used).

    POINT, empty and open-contour ROIs give an all-zero mask.  Overlapping
    slabs or crossing contours are clipped to a fraction of 1.
    """
    to_index, origin, k_per_mm, z0 = _axial_geometry(grid)
    nk, nj, ni = grid.shape
    fraction = np.zeros(grid.shape, dtype=np.float32)
    planes = contour_planes(roi, single_plane_thickness_mm=grid.spacing_mm[2])
    touched = [nk, 0, nj, 0, ni, 0]
    for plane in planes:
        weights = _slab_weights(plane.z_low_mm, plane.z_high_mm, k_per_mm, z0, nk)
        if not weights:
            continue
        polygons_ij = [(p - origin[:2]) @ to_index.T for p in plane.polygons_xy]
        result = _pixel_fractions(polygons_ij, even_odd_signs(plane.polygons_xy), ni, nj)
        if result is None:
            continue
        rows, cols, frac = result
        frac32 = frac.astype(np.float32)
        for k, w in weights:
            target = fraction[k, rows, cols]
            if w == 1.0:
                target += frac32
            else:
                target += np.float32(w) * frac32
        touched = [min(touched[0], weights[0][0]), max(touched[1], weights[-1][0] + 1),
                   min(touched[2], rows.start), max(touched[3], rows.stop),
                   min(touched[4], cols.start), max(touched[5], cols.stop)]
    if touched[0] < touched[1]:
        box = fraction[touched[0]:touched[1], touched[2]:touched[3], touched[4]:touched[5]]
        np.clip(box, 0.0, 1.0, out=box)
    return StructureMask(roi=roi, grid=grid, fraction=fraction)


def rasterize_structure_set(structure_set: StructureSet, grid: Volume, names: list[str] | None = None,
                            check_frame_of_reference: bool = True) -> list[StructureMask]:
    """Masks of every ROI that encloses a volume (or of ``names``), in the structure set's order.

    POINT, empty and open-contour ROIs are left out.  With
    ``check_frame_of_reference`` a structure set drawn on another frame of
    reference than the grid's is refused.  Each mask is a full float32 grid.
    """
    if (check_frame_of_reference and structure_set.frame_of_reference_uid and grid.frame_of_reference_uid
            and structure_set.frame_of_reference_uid != grid.frame_of_reference_uid):
        raise InputError(structure_set.source_path or None,
                         f"structures are on frame of reference {structure_set.frame_of_reference_uid}, the grid on "
                         f"{grid.frame_of_reference_uid}; they do not describe the same patient position")
    rois = structure_set.rois if names is None else [structure_set.by_name(n) for n in names]
    return [rasterize_roi(roi, grid) for roi in rois if roi.contours]
