"""A grid of values in DICOM patient coordinates: a CT (Hounsfield units), a dose (Gy), or any scalar map.

The array is indexed ``[slice, row, column]`` (k, j, i).  ``origin_mm`` is the
patient position of the centre of voxel (0, 0, 0); ``direction`` holds, as its
columns, the unit vectors in patient space along increasing i (columns), j
(rows) and k (slices).  For an ordinary axial HFS series ``direction`` is the
identity.  Everything downstream (engine, dose export) works through
:meth:`Volume.index_to_patient`, so oblique or flipped series need no special case.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Volume:
    """Values on a grid with its geometry, and nothing that identifies a patient.

    ``values`` holds what ``unit`` says: "HU" for a CT (also readable as :attr:`hu`, which refuses any other
    unit, so a dose is never taken for a CT), "Gy" for a dose, "1" for fractions and relative uncertainties.
    """

    values: np.ndarray  # (nk, nj, ni), float32 or int16, in ``unit``
    spacing_mm: tuple[float, float, float]  # (di, dj, dk): column, row, slice spacing
    origin_mm: tuple[float, float, float]  # patient position of voxel (0, 0, 0) centre
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    frame_of_reference_uid: str = ""
    series_instance_uid: str = ""
    study_instance_uid: str = ""
    patient_position: str = "HFS"
    description: str = ""
    unit: str = "HU"

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values)
        if self.values.ndim != 3:
            raise ValueError(f"Volume needs a 3-D array, got shape {self.values.shape}")
        self.spacing_mm = tuple(float(s) for s in self.spacing_mm)  # type: ignore[assignment]
        self.origin_mm = tuple(float(o) for o in self.origin_mm)  # type: ignore[assignment]
        self.direction = np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def hu(self) -> np.ndarray:
        """The Hounsfield units of a CT; a grid of anything else (a dose) raises instead of passing for one."""
        if self.unit != "HU":
            raise ValueError(f"{self.description or 'this grid'} holds {self.unit}, not Hounsfield units")
        return self.values

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.values.shape)  # type: ignore[return-value]

    @property
    def voxel_volume_cm3(self) -> float:
        di, dj, dk = self.spacing_mm
        return di * dj * dk * 1e-3

    def index_to_patient(self) -> np.ndarray:
        """4x4 affine taking (i, j, k, 1) voxel indices to patient (x, y, z, 1) in mm."""
        affine = np.eye(4)
        affine[:3, :3] = self.direction * np.asarray(self.spacing_mm)[None, :]
        affine[:3, 3] = self.origin_mm
        return affine

    def patient_to_index(self) -> np.ndarray:
        """4x4 affine taking patient (x, y, z, 1) in mm to fractional voxel indices."""
        return np.linalg.inv(self.index_to_patient())

    def axis_coordinates_mm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Patient coordinates of voxel centres along i, j, k, for an axis-aligned grid."""
        ni, nj, nk = self.shape[2], self.shape[1], self.shape[0]
        o = np.asarray(self.origin_mm)
        a = self.index_to_patient()[:3, :3]
        return (
            o[0] + a[0, 0] * np.arange(ni),
            o[1] + a[1, 1] * np.arange(nj),
            o[2] + a[2, 2] * np.arange(nk),
        )

    def with_values(self, values: np.ndarray, unit: str = "Gy", description: str | None = None) -> "Volume":
        """Same geometry, other values: a dose on the CT's grid (Gy, the default), a mask, a map."""
        return Volume(
            values=values,
            spacing_mm=self.spacing_mm,
            origin_mm=self.origin_mm,
            direction=self.direction.copy(),
            frame_of_reference_uid=self.frame_of_reference_uid,
            series_instance_uid=self.series_instance_uid,
            study_instance_uid=self.study_instance_uid,
            patient_position=self.patient_position,
            description=self.description if description is None else description,
            unit=unit,
        )
