"""Water-equivalent depth of a target along spot rays, through the stopping powers the engine uses.

Why its own module: plan design must place Bragg peaks where the engine will put them, so the rays
here are the engine's central spot rays and the medium is the engine's medium.

* **Rays** (:func:`spot_rays`): the same mapping as :func:`braggdesk.engine.source.build_spot_table`
  (and its ``_central_rays``): a spot at (x, y) on the isocentre plane (IEC gantry X, Y) flies from
  the virtual source (VSAD x and y may differ), starting at the beam model's reference plane.
* **Medium**: relative stopping power per voxel from
  :func:`braggdesk.physics.calibration.voxel_media` (what :func:`braggdesk.engine.media.build_media`
  uses), and air (:func:`braggdesk.engine.packing.air_rsp`) between the reference plane and the CT,
  as the engine's source does.
* **Sampling**: each ray is sampled at midpoints of steps of a quarter of the smallest voxel size
  between where it enters and leaves the CT; the RSP is the voxel's (nearest voxel, as the engine's
  voxels are uniform).  The water-equivalent thickness (WET) at a sample is the air WET plus the sum
  of RSP x step before it plus half its own step: within about a tenth of a millimetre of the exact
  path integral for ordinary tissue interfaces.
* **Target**: a sample is in the margin-dilated target when the distance from it to the target's
  surface is at most the margin.  That distance is a Euclidean distance transform of the target
  voxels, interpolated trilinearly and less half a voxel, so that a margin of 5 mm on 3 mm voxels is
  5 mm, not 3 or 6.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..engine.geometry import GridFrame, ray_box_entry

WET_BIN_MM = 0.5  # resolution of the per-ray record of water-equivalent depths inside the target
_SAMPLES_PER_CHUNK = 4_000_000


@dataclass(frozen=True)
class BeamRays:
    """A beam's geometry in the grid frame (mm from the CT's corner, along its voxel axes)."""

    iso: np.ndarray
    direction: np.ndarray
    axis_x: np.ndarray
    axis_y: np.ndarray
    vsad_mm: tuple[float, float]
    reference_plane_mm: float


def spot_rays(beam: BeamRays, x_iso_mm: np.ndarray, y_iso_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start (on the reference plane) and unit direction of each spot's central ray, grid frame."""
    x = np.asarray(x_iso_mm, float)
    y = np.asarray(y_iso_mm, float)
    sx, sy = beam.vsad_mm
    d_ref = beam.reference_plane_mm
    xr = x * (sx - d_ref) / sx
    yr = y * (sy - d_ref) / sy
    start = beam.iso - d_ref * beam.direction + xr[:, None] * beam.axis_x + yr[:, None] * beam.axis_y
    dvec = beam.direction + (x / sx)[:, None] * beam.axis_x + (y / sy)[:, None] * beam.axis_y
    return start, dvec / np.linalg.norm(dvec, axis=1)[:, None]


@dataclass(frozen=True)
class TargetDistance:
    """Distance (mm) from voxel centres to the target's surface, over a box around the target."""

    distance_mm: np.ndarray  # [k, j, i] over the box, <= 0 inside the target
    offset_ijk: np.ndarray  # index of the box's first voxel, (i, j, k)

    @classmethod
    def of(cls, target: np.ndarray, spacing_mm: np.ndarray, margin_mm: float) -> "TargetDistance":
        """``target`` is a bool array [k, j, i]; the box reaches two voxels beyond target + margin."""
        nz = np.nonzero(target)
        pad = np.ceil(margin_mm / np.asarray(spacing_mm)[::-1]).astype(int) + 2  # (k, j, i)
        lo = np.maximum(np.array([a.min() for a in nz]) - pad, 0)
        hi = np.minimum(np.array([a.max() for a in nz]) + pad + 1, target.shape)
        box = target[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        edt = ndimage.distance_transform_edt(~box, sampling=tuple(np.asarray(spacing_mm)[::-1]))
        half_voxel = 0.5 * float(np.mean(spacing_mm))
        return cls((edt - half_voxel).astype(np.float32), lo[::-1].copy())


@dataclass(frozen=True)
class TargetWet:
    """Per ray: the water-equivalent depths (mm) at which it is inside the margin-dilated target.

    ``covered[r, b]`` is True when ray r has a target sample with WET in [b, b + 1) x WET_BIN_MM;
    ``wet_in_mm`` / ``wet_out_mm`` are the shallowest and deepest such WET (NaN for a ray that misses).
    """

    covered: np.ndarray
    wet_in_mm: np.ndarray
    wet_out_mm: np.ndarray

    @property
    def hits(self) -> np.ndarray:
        return np.isfinite(self.wet_in_mm)

    def covers(self, range_mm: float, half_width_mm: float) -> np.ndarray:
        """Rays with a target WET within ``half_width_mm`` of ``range_mm``."""
        n_bins = self.covered.shape[1]
        lo = int(np.clip(np.floor((range_mm - half_width_mm) / WET_BIN_MM), 0, n_bins))
        hi = int(np.clip(np.floor((range_mm + half_width_mm) / WET_BIN_MM) + 1, 0, n_bins))
        if hi <= lo:
            return np.zeros(self.covered.shape[0], bool)
        return self.covered[:, lo:hi].any(axis=1)


def trace_target_wet(start: np.ndarray, direction: np.ndarray, grid: GridFrame, rsp: np.ndarray,
                     target: TargetDistance, margin_mm: float, air_rsp: float) -> TargetWet:
    """Water-equivalent depths of the margin-dilated target along each ray (see the module docstring).

    ``rsp`` is the engine's per-voxel RSP, [k, j, i]; ``start`` / ``direction`` come from
    :func:`spot_rays`.
    """
    spacing = np.asarray(grid.spacing_mm, float)
    shape_ijk = np.asarray(grid.shape_ijk)
    step = 0.25 * float(spacing.min())
    t_in, t_out = ray_box_entry(start, direction, grid.size_mm)
    t_in = np.maximum(t_in, 0.0)
    n_steps = np.where(t_out > t_in, np.ceil((t_out - t_in) / step), 0).astype(int)
    n_rays = start.shape[0]
    max_wet = air_rsp * float(t_in.max(initial=0.0)) + float(rsp.max(initial=0.0)) * step * int(n_steps.max(initial=0))
    n_bins = int(max_wet / WET_BIN_MM) + 2
    covered = np.zeros((n_rays, n_bins), bool)
    wet_in = np.full(n_rays, np.nan)
    wet_out = np.full(n_rays, np.nan)
    per_chunk = max(1, _SAMPLES_PER_CHUNK // max(int(n_steps.max(initial=1)), 1))
    for first in range(0, n_rays, per_chunk):
        rays = slice(first, min(first + per_chunk, n_rays))
        m = int(n_steps[rays].max(initial=0))
        if m == 0:
            continue
        t = t_in[rays, None] + (np.arange(m)[None, :] + 0.5) * step
        valid = t < t_out[rays, None]
        points = start[rays, None, :] + t[..., None] * direction[rays, None, :]
        idx = np.clip(np.floor(points / spacing).astype(np.int64), 0, shape_ijk - 1)
        r = np.where(valid, rsp[idx[..., 2], idx[..., 1], idx[..., 0]], 0.0)
        wet = air_rsp * t_in[rays, None] + step * (np.cumsum(r, axis=1) - 0.5 * r)
        inside = valid & _in_dilated_target(points, spacing, target, margin_mm)
        ray_of, sample = np.nonzero(inside)
        w = wet[ray_of, sample]
        covered[first + ray_of, np.minimum((w / WET_BIN_MM).astype(int), n_bins - 1)] = True
        rows = first + ray_of
        np.fmin.at(wet_in, rows, w)
        np.fmax.at(wet_out, rows, w)
    return TargetWet(covered, wet_in, wet_out)


def _in_dilated_target(points: np.ndarray, spacing: np.ndarray, target: TargetDistance,
                       margin_mm: float) -> np.ndarray:
    """True where a point (grid frame, mm) lies within ``margin_mm`` of the target's surface."""
    coords = points / spacing - 0.5 - target.offset_ijk  # continuous index in the box, voxel centres at integers
    box_shape_ijk = np.asarray(target.distance_mm.shape[::-1])
    near = np.all((coords >= 0) & (coords <= box_shape_ijk - 1), axis=-1)
    out = np.zeros(points.shape[:-1], bool)
    if near.any():
        c = coords[near]
        d = ndimage.map_coordinates(target.distance_mm, [c[:, 2], c[:, 1], c[:, 0]], order=1, mode="nearest")
        out[near] = d <= margin_mm
    return out
