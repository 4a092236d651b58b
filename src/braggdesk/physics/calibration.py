"""What the engine assigns to a Hounsfield unit: density, material, RSP and radiation length.

One function, :func:`voxel_media`, turns a CT's HU into per-voxel arrays through a
:class:`~braggdesk.model.CtCalibration` and :func:`~braggdesk.physics.material_constants.material_constants`;
the engine's media and ``braggdesk info CALIBRATION`` both call it, so what ``info`` prints is what
the transport uses.

Density beyond the calibration's first and last HU follows the end segment (as MCsquare does;
:meth:`CtCalibration.density`); :func:`extrapolation_notes` says so, with the voxel count and the
HU and density reached, so a run never extrapolates silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from braggdesk.model import CtCalibration

from .material_constants import MaterialConstants, material_constants

__all__ = ["CalibrationPoint", "VoxelMedia", "calibration_points", "extrapolation_notes", "sample_hu", "voxel_media"]

_MIN_DENSITY_G_CM3 = 1e-6  # a voxel of density 0 would have RSP 0 and stop nothing: MCsquare's floor


@dataclass(frozen=True, eq=False)
class VoxelMedia:
    """Per-voxel transport properties of a flat HU array (C order of the CT), plus the per-material constants."""

    density_g_cm3: np.ndarray = field(repr=False)  # float32, >= 1e-6
    material_index: np.ndarray = field(repr=False)  # int32 into constants / calibration.materials
    rsp: np.ndarray = field(repr=False)  # float32 linear stopping power relative to water
    inv_x0_per_mm: np.ndarray = field(repr=False)  # float32 1 / radiation length
    constants: MaterialConstants
    notes: tuple[str, ...] = ()


def voxel_media(calibration: CtCalibration, hu: np.ndarray) -> VoxelMedia:
    """Density, material, RSP and 1/X0 of every HU (flattened), with the extrapolation notes."""
    hu = np.asarray(hu, dtype=np.float32).reshape(-1)
    density = np.maximum(calibration.density(hu), _MIN_DENSITY_G_CM3).astype(np.float32)
    index = calibration.material_index(hu).astype(np.int32)
    constants = material_constants(calibration.materials)
    rsp = (density * constants.mass_rsp[index]).astype(np.float32)
    inv_x0 = (density / (10.0 * constants.radiation_length_g_cm2[index])).astype(np.float32)
    return VoxelMedia(density, index, rsp, inv_x0, constants, tuple(extrapolation_notes(calibration, hu)))


def extrapolation_notes(calibration: CtCalibration, hu: np.ndarray) -> list[str]:
    """One line per end of the density table that some of ``hu`` lie beyond: how many voxels, up to
    which HU and density (empty when none do, or the table has one point and is constant)."""
    hu = np.asarray(hu).reshape(-1)
    if hu.size == 0 or len(calibration.density_hu) < 2:
        return []
    below, above = calibration.outside_density_table(hu)
    notes = []
    total = hu.size
    if above:
        hu_max = float(hu.max())
        notes.append(
            f"calibration {calibration.name!r}: {_voxels(above)} ({100 * above / total:.2g} %) {_have(above)} HU above "
            f"{calibration.density_hu[-1]:g}, its last density point; their density follows the last segment, "
            f"up to {float(calibration.density(hu_max)):.4g} g/cm3 at HU {hu_max:g}")
    if below:
        hu_min = float(hu.min())
        notes.append(
            f"calibration {calibration.name!r}: {_voxels(below)} ({100 * below / total:.2g} %) {_have(below)} HU below "
            f"{calibration.density_hu[0]:g}, its first density point; their density follows the first segment, "
            f"down to {float(calibration.density(hu_min)):.4g} g/cm3 at HU {hu_min:g}")
    return notes


def _voxels(n: int) -> str:
    return f"{n:,} voxel{'s' if n != 1 else ''}"


def _have(n: int) -> str:
    return "has" if n == 1 else "have"


@dataclass(frozen=True)
class CalibrationPoint:
    """What the engine assigns at one HU (a row of ``braggdesk info CALIBRATION``)."""

    hu: float
    density_g_cm3: float
    material: str
    rsp: float
    radiation_length_mm: float
    extrapolated: bool


_SAMPLE_HU = (-1000, -900, -800, -700, -500, -300, -200, -100, -50, 0, 20, 50, 100, 200, 300, 500, 700,
              1000, 1500, 2000, 2500, 3000)


def sample_hu(calibration: CtCalibration) -> np.ndarray:
    """HU worth showing: every density point and section boundary of the calibration, the HU just below
    each boundary, and round values over the CT range (-1024 to 3071 when the table ends inside it)."""
    bounds = [float(h) for h in calibration.material_hu_min[1:]]
    points = set(float(h) for h in calibration.density_hu) | set(bounds) | {b - 1 for b in bounds}
    points |= {float(h) for h in _SAMPLE_HU}
    low = min(-1024.0, float(calibration.density_hu[0]), float(calibration.material_hu_min[0]))
    high = max(3071.0, float(calibration.density_hu[-1]), float(calibration.material_hu_min[-1]))
    points |= {low, high}
    return np.array(sorted(p for p in points if low <= p <= high))


def calibration_points(calibration: CtCalibration, hu: np.ndarray | None = None) -> list[CalibrationPoint]:
    """:class:`CalibrationPoint` rows at ``hu`` (default :func:`sample_hu`), computed by :func:`voxel_media`."""
    hu = sample_hu(calibration) if hu is None else np.asarray(hu, dtype=float).reshape(-1)
    media = voxel_media(calibration, hu)
    out = []
    for i, h in enumerate(hu):
        inv_x0 = float(media.inv_x0_per_mm[i])
        out.append(CalibrationPoint(
            hu=float(h),
            density_g_cm3=float(media.density_g_cm3[i]),
            material=calibration.materials[int(media.material_index[i])].name,
            rsp=float(media.rsp[i]),
            radiation_length_mm=1.0 / inv_x0 if inv_x0 > 0 else float("inf"),
            extrapolated=bool(h < calibration.density_hu[0] or h > calibration.density_hu[-1]) and len(
                calibration.density_hu) > 1,
        ))
    return out
