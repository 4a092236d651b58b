"""The patient-loading figure of ``braggdesk bench``: CT series + RTSTRUCT read and rasterized.

A synthetic case of clinical size is written to a temporary folder (a
512 x 512 x 200 CT series and an RTSTRUCT with 20 ROIs: a body outline on every
slice, 18 ellipsoids of 10 to 25 % of the body's size and a thin ellipsoidal shell, one contour
per slice each, or two for the shell), then timed: ``read_ct_series``,
``read_rtstruct`` and rasterizing every ROI onto the CT grid.  Masks are
rasterized one ROI at a time and dropped, so the figure is the work, not the
memory of 20 full-size float32 masks (4.2 GB at this size).
Writing the case is not timed.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..analysis.rasterize import rasterize_roi
from ..io.dicom_ct import read_ct_series, write_ct_series
from ..io.rtstruct import read_rtstruct, read_sop_instance_uids, write_rtstruct
from ..io.uids import new_uid
from ..model import Roi, StructureSet, Volume

POINTS_PER_CONTOUR = 128


def synthetic_patient(shape: tuple[int, int, int] = (200, 512, 512), n_rois: int = 20,
                      spacing_mm: tuple[float, float, float] = (0.977, 0.977, 2.0), seed: int = 3
                      ) -> tuple[Volume, StructureSet]:
    """An elliptical water body (HU 0 in air) with ellipsoidal ROIs, and its ROIs drawn on the CT's slice planes."""
    nk, nj, ni = shape
    di, dj, dk = spacing_mm
    origin = (-(ni - 1) / 2 * di, -(nj - 1) / 2 * dj, -(nk - 1) / 2 * dk)
    x = origin[0] + di * np.arange(ni)
    y = origin[1] + dj * np.arange(nj)
    z = origin[2] + dk * np.arange(nk)
    body_a, body_b = 0.42 * ni * di, 0.32 * nj * dj
    inside = (x[None, :] / body_a) ** 2 + (y[:, None] / body_b) ** 2 <= 1.0
    hu = np.where(inside[None, :, :], np.float32(0.0), np.float32(-1000.0))
    hu = np.broadcast_to(hu, shape).copy()
    volume = Volume(values=hu, spacing_mm=spacing_mm, origin_mm=origin, frame_of_reference_uid=new_uid(),
                    series_instance_uid=new_uid(), study_instance_uid=new_uid(), description="braggdesk io benchmark")

    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 2.0 * np.pi, POINTS_PER_CONTOUR, endpoint=False)

    def ellipse(cx, cy, a, b, zz, reverse=False):
        s = -1.0 if reverse else 1.0
        return np.c_[cx + a * np.cos(s * t), cy + b * np.sin(s * t), np.full(len(t), zz)]

    rois = [Roi(1, "Body", (0, 255, 0), "EXTERNAL", contours=[ellipse(0.0, 0.0, body_a, body_b, zz) for zz in z])]
    half_extent = np.array([body_a, body_b, (nk - 1) / 2 * dk])
    for n in range(2, n_rois + 1):
        # ellipsoids of 10 % to 25 % of the body's semi-axes, wholly inside the body and the grid
        radii = rng.uniform(0.1, 0.25, size=3) * half_extent
        radii[2] = max(radii[2], 2.5 * dk)  # at least a few slices
        room = np.maximum(half_extent / np.sqrt(3.0) - radii - dk, 0.0)
        centre = rng.uniform(-1.0, 1.0, size=3) * room
        shell = n == n_rois  # the last ROI is a thin shell, 3 mm where the ellipsoid is large enough
        wall = min(3.0, 0.3 * float(radii.min()))
        contours = []
        for zz in z:
            u = (zz - centre[2]) / radii[2]
            if abs(u) >= 1.0:
                continue
            scale = np.sqrt(1.0 - u * u)
            contours.append(ellipse(centre[0], centre[1], radii[0] * scale, radii[1] * scale, zz))
            if shell:
                ui = (zz - centre[2]) / (radii[2] - wall)
                if abs(ui) < 1.0:
                    si = np.sqrt(1.0 - ui * ui)
                    contours.append(ellipse(centre[0], centre[1], (radii[0] - wall) * si, (radii[1] - wall) * si, zz,
                                            reverse=True))
        rois.append(Roi(n, f"Shell {n}" if shell else f"Organ {n}", roi_type="ORGAN", contours=contours))
    return volume, StructureSet(rois=rois, frame_of_reference_uid=volume.frame_of_reference_uid,
                                referenced_series_uid=volume.series_instance_uid, label="bench")


def io_benchmark(shape: tuple[int, int, int] = (200, 512, 512), n_rois: int = 20, folder: str | Path | None = None,
                 log: Callable[[str], None] = print) -> dict:
    """Write the synthetic case, then time loading and rasterizing it; returns the figures."""
    with tempfile.TemporaryDirectory(prefix="braggdesk-bench-io-") as tmp:
        root = Path(folder) if folder is not None else Path(tmp)
        volume, structures = synthetic_patient(shape, n_rois)
        log(f"bench io: writing a {shape[2]} x {shape[1]} x {shape[0]} CT series and an RTSTRUCT with {n_rois} ROIs")
        ct_dir = root / "ct"
        paths = write_ct_series(volume, ct_dir)
        rs_path = write_rtstruct(structures, volume, read_sop_instance_uids(paths), root / "RS_bench.dcm")
        del volume

        t0 = time.perf_counter()
        ct = read_ct_series(ct_dir)
        t1 = time.perf_counter()
        loaded = read_rtstruct(rs_path)
        t2 = time.perf_counter()
        total_cm3 = 0.0
        for roi in loaded.rois:
            total_cm3 += rasterize_roi(roi, ct).volume_cm3
        t3 = time.perf_counter()
    n_contours = sum(len(r.contours) for r in loaded.rois)
    figures = {
        "io_ct_shape": [shape[2], shape[1], shape[0]],
        "io_rois": len(loaded.rois),
        "io_contours": n_contours,
        "io_contour_points": int(sum(len(c) for r in loaded.rois for c in r.contours)),
        "io_read_ct_seconds": round(t1 - t0, 3),
        "io_read_rtstruct_seconds": round(t2 - t1, 3),
        "io_rasterize_seconds": round(t3 - t2, 3),
        "io_total_seconds": round(t3 - t0, 3),
        "io_structure_volume_cm3": round(total_cm3, 2),
    }
    log(f"bench io: read CT {figures['io_read_ct_seconds']} s, RTSTRUCT {figures['io_read_rtstruct_seconds']} s, "
        f"rasterize {figures['io_rasterize_seconds']} s ({n_contours} contours)")
    return figures
