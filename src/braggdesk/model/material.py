"""Materials and the CT calibration that maps Hounsfield units onto them.

A calibration is two tables, as in Schneider et al. (2000) and MCsquare's scanner
folders: HU -> mass density (piecewise linear) and HU -> material (sections,
each material defined by its elemental mass fractions).  The density of a voxel
comes from the first table; its composition from the second.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Material:
    """A material by composition.  ``density_g_cm3`` is nominal (used when a
    calibration section says "use the material's own density").

    ``stopping_power_table`` names tabulated stopping powers that replace Bethe's formula for
    this material, e.g. ``"mcsquare:Schneider_Lung"`` (MCsquare's own table for a material of
    its database, see ``braggdesk.physics.mcsquare``); None: computed from the composition and
    the I-value.
    """

    name: str
    density_g_cm3: float
    mass_fractions: dict[str, float]  # element symbol -> mass fraction (sums to 1)
    i_value_ev: float | None = None  # None: Bragg additivity from the elements
    stopping_power_table: str | None = None

    def __post_init__(self) -> None:
        total = sum(self.mass_fractions.values())
        if not 0.98 <= total <= 1.02:
            raise ValueError(f"material {self.name}: mass fractions sum to {total:.4f}, expected 1")


@dataclass
class CtCalibration:
    """HU -> density and HU -> material.

    ``material_hu_min[i]`` is the lowest HU of section ``i``; sections are sorted
    and each extends up to the next one's lower bound.  HU below the first bound
    belong to the first section.
    """

    name: str
    density_hu: np.ndarray
    density_g_cm3: np.ndarray
    material_hu_min: np.ndarray
    materials: list[Material]
    source_path: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.density_hu = np.asarray(self.density_hu, dtype=float)
        self.density_g_cm3 = np.asarray(self.density_g_cm3, dtype=float)
        self.material_hu_min = np.asarray(self.material_hu_min, dtype=float)
        if len(self.density_hu) != len(self.density_g_cm3) or len(self.density_hu) < 1:
            raise ValueError(f"calibration {self.name}: HU and density tables differ in length or are empty")
        if np.any(np.diff(self.density_hu) < 0):
            raise ValueError(f"calibration {self.name}: HU of the density table must increase")
        if len(self.material_hu_min) != len(self.materials) or not self.materials:
            raise ValueError(f"calibration {self.name}: {len(self.material_hu_min)} HU sections for {len(self.materials)} materials")
        if np.any(np.diff(self.material_hu_min) <= 0):
            raise ValueError(f"calibration {self.name}: HU section bounds must increase")

    def density(self, hu: np.ndarray) -> np.ndarray:
        """Mass density in g/cm3: linear between table points, and beyond the first and last
        point along the end segment (as MCsquare does), never below 0.

        Holding the end value instead would make every HU above the last point (metal, dense
        bone, contrast) the density of the last point, silently.  A table of one point is
        constant.  :meth:`outside_density_table` counts the HU that were extrapolated.
        """
        hu = np.asarray(hu, dtype=float)
        x, y = self.density_hu, self.density_g_cm3
        rho = np.interp(hu, x, y)
        if len(x) >= 2:
            low, high = hu < x[0], hu > x[-1]
            slope_low = (y[1] - y[0]) / (x[1] - x[0]) if x[1] > x[0] else 0.0
            slope_high = (y[-1] - y[-2]) / (x[-1] - x[-2]) if x[-1] > x[-2] else 0.0
            rho = np.where(low, y[0] + slope_low * (hu - x[0]), rho)
            rho = np.where(high, y[-1] + slope_high * (hu - x[-1]), rho)
        return np.maximum(rho, 0.0)

    def outside_density_table(self, hu: np.ndarray) -> tuple[int, int]:
        """How many of ``hu`` lie below the first and above the last HU of the density table."""
        hu = np.asarray(hu)
        return int(np.count_nonzero(hu < self.density_hu[0])), int(np.count_nonzero(hu > self.density_hu[-1]))

    def material_index(self, hu: np.ndarray) -> np.ndarray:
        """Index into :attr:`materials` for each HU value."""
        idx = np.searchsorted(self.material_hu_min, np.asarray(hu, dtype=float), side="right") - 1
        return np.clip(idx, 0, len(self.materials) - 1).astype(np.int32)
