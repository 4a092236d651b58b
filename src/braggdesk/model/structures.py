"""Structures (ROIs) of an RT Structure Set, and their masks on a grid.

Contours stay as the planning system drew them (closed planar polygons in patient
mm); a :class:`StructureMask` is one ROI rasterized onto a particular grid as a
fractional (partial-volume) mask, what DVHs, statistics and viewers use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .volume import Volume


@dataclass
class Roi:
    """One ROI: its identity in the structure set, how it is drawn, and its geometry."""

    number: int  # ROINumber
    name: str
    color_rgb: tuple[int, int, int] = (255, 0, 0)
    roi_type: str = ""  # RTROIInterpretedType: EXTERNAL, PTV, CTV, ORGAN, POINT, ...
    # closed planar contours, each an (n, 3) array of patient x, y, z in mm
    contours: list[np.ndarray] = field(default_factory=list)
    # POINT ROIs (and POINT contours): (m, 3) patient positions in mm
    points_mm: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    # OPEN_PLANAR / OPEN_NONPLANAR contours (lines, no area): kept for display, never rasterized
    open_contours: list[np.ndarray] = field(default_factory=list)

    @property
    def is_point(self) -> bool:
        return self.roi_type.upper() in ("POINT", "MARKER", "ISOCENTER") or (not self.contours and len(self.points_mm))

    @property
    def is_empty(self) -> bool:
        return not self.contours and not len(self.points_mm) and not self.open_contours


@dataclass
class StructureSet:
    """The ROIs of one RTSTRUCT, with the frame of reference and CT series they were drawn on."""

    rois: list[Roi]
    frame_of_reference_uid: str = ""
    referenced_series_uid: str = ""
    label: str = ""
    source_path: str = ""
    # what the reader noticed but did not refuse (empty ROIs, open contours, ...), one line each
    notes: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        return [r.name for r in self.rois]

    def by_name(self, name: str) -> Roi:
        for roi in self.rois:
            if roi.name == name:
                return roi
        for roi in self.rois:
            if roi.name.lower() == name.lower():
                return roi
        raise KeyError(f"no ROI named {name!r}; the structure set has {', '.join(self.names()) or 'none'}")


@dataclass
class StructureMask:
    """An ROI on a grid: ``fraction`` in [0, 1] per voxel, indexed [k, j, i] like ``grid.values``."""

    roi: Roi
    grid: Volume  # geometry only; its ``hu`` is not used
    fraction: np.ndarray  # float32, same shape as grid.values

    @property
    def volume_cm3(self) -> float:
        return float(self.fraction.sum(dtype=np.float64) * self.grid.voxel_volume_cm3)

    @property
    def name(self) -> str:
        return self.roi.name
