"""Coordinate transforms: IEC 61217 gantry and couch angles to DICOM patient space,
and patient space to the engine's grid frame.

IEC fixed system: X to the patient's left (HFS), Y towards the gantry, Z up.
The gantry rotates the beam about Y; at gantry 0 the source is above and the
beam travels along -Z.  The couch (patient support) rotates the patient about Z.
Spot positions (ScanSpotPositionMap) are along the gantry system's X and Y at
the isocentre plane.  The grid frame is the CT's voxel frame in mm: voxel
(i, j, k) spans [i*di, (i+1)*di) x [j*dj, ...) x [k*dk, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import PlanError
from ..model import Beam, Volume

# IEC patient support system (after couch rotation) -> DICOM patient axes, per patient position.
_IEC_TO_DICOM = {
    "HFS": np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], dtype=float),
    "FFS": np.array([[-1, 0, 0], [0, 0, -1], [0, -1, 0]], dtype=float),
    "HFP": np.array([[-1, 0, 0], [0, 0, 1], [0, 1, 0]], dtype=float),
    "FFP": np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], dtype=float),
}


def _rot_y(deg: float) -> np.ndarray:
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rot_z(deg: float) -> np.ndarray:
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


@dataclass(frozen=True)
class BeamFrame:
    """Unit vectors of a beam in DICOM patient coordinates, and its isocentre (mm)."""

    isocenter_mm: np.ndarray
    direction: np.ndarray  # beam travel direction (source -> isocentre)
    spot_x_axis: np.ndarray  # IEC gantry X at the isocentre plane
    spot_y_axis: np.ndarray  # IEC gantry Y at the isocentre plane


def beam_frame(beam: Beam, patient_position: str = "HFS") -> BeamFrame:
    """Beam axes in patient coordinates from gantry and couch angles (IEC 61217)."""
    try:
        to_dicom = _IEC_TO_DICOM[patient_position.upper()]
    except KeyError:
        raise PlanError(
            f"patient position {patient_position!r} is not supported; expected one of {sorted(_IEC_TO_DICOM)}"
        ) from None
    if abs(beam.gantry_pitch_angle_deg) > 1e-6:
        raise PlanError(f"beam {beam.name!r}: gantry pitch {beam.gantry_pitch_angle_deg} deg is not supported")
    gantry = _rot_y(beam.gantry_angle_deg)  # gantry system -> fixed
    couch_inv = _rot_z(-beam.couch_angle_deg)  # fixed -> patient support
    to_patient = to_dicom @ couch_inv @ gantry
    x_g = to_patient @ np.array([1.0, 0.0, 0.0])
    y_g = to_patient @ np.array([0.0, 1.0, 0.0])
    source = to_patient @ np.array([0.0, 0.0, 1.0])
    return BeamFrame(np.asarray(beam.isocenter_mm, float), -source, x_g, y_g)


@dataclass(frozen=True)
class GridFrame:
    """Maps patient coordinates (mm) into the grid frame (mm from the grid's corner)."""

    rotation: np.ndarray  # patient -> grid, 3x3 (transpose of the CT direction matrix)
    corner_mm: np.ndarray  # patient position of the grid corner (outer edge of voxel 0)
    spacing_mm: np.ndarray  # (di, dj, dk)
    shape_ijk: tuple[int, int, int]  # (ni, nj, nk)

    @classmethod
    def of(cls, ct: Volume) -> "GridFrame":
        d = ct.direction
        if not np.allclose(d.T @ d, np.eye(3), atol=1e-4):
            raise PlanError("the CT's direction cosines are not orthonormal; cannot set up the transport grid")
        spacing = np.asarray(ct.spacing_mm, float)
        corner = np.asarray(ct.origin_mm, float) - d @ (0.5 * spacing)
        nk, nj, ni = ct.shape
        return cls(d.T.copy(), corner, spacing, (ni, nj, nk))

    @property
    def size_mm(self) -> np.ndarray:
        return self.spacing_mm * np.asarray(self.shape_ijk)

    def point(self, p_mm: np.ndarray) -> np.ndarray:
        return (np.asarray(p_mm, float) - self.corner_mm) @ self.rotation.T

    def vector(self, v: np.ndarray) -> np.ndarray:
        return np.asarray(v, float) @ self.rotation.T


def ray_box_entry(origin: np.ndarray, direction: np.ndarray, box_max: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances along rays to where they enter and leave the box [0, box_max] (slab method).

    ``origin`` and ``direction`` are (n, 3) arrays; rays that miss have t_enter >= t_exit.
    (The kernel's scalar twin is :func:`braggdesk.engine.kernel.grid.box_entry`.)
    """
    big = 1e30
    box = np.asarray(box_max, dtype=float)
    parallel = np.abs(direction) < 1e-12
    safe = np.where(parallel, 1e-12, direction)
    t0 = (0.0 - origin) / safe
    t1 = (box[None, :] - origin) / safe
    inside = (origin >= 0) & (origin <= box[None, :])
    t_near = np.where(parallel, np.where(inside, -big, big), np.minimum(t0, t1))
    t_far = np.where(parallel, np.where(inside, big, -big), np.maximum(t0, t1))
    return t_near.max(axis=1), t_far.min(axis=1)
