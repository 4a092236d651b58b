"""A machine's beam model: what the nozzle delivers for each nominal energy.

Optics are Gaussian emittance parameters at a reference plane at
``reference_plane_to_isocenter_mm`` upstream of the isocentre, along the beam
axis (DCPT: 500 mm in v2, 600 mm in v5).  Sizes are 1 sigma.  Values between
tabulated energies are interpolated linearly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .material import Material


@dataclass(frozen=True)
class SpotOptics:
    """Phase space of one spot at the reference plane, for one nominal energy."""

    nominal_energy_mev: float
    mean_energy_mev: float
    energy_spread_mev: float  # 1 sigma
    protons_per_mu: float
    sigma_x_mm: float
    sigma_y_mm: float
    divergence_x_rad: float
    divergence_y_rad: float
    correlation_x: float
    correlation_y: float


@dataclass(frozen=True)
class RangeShifter:
    """A slab in the nozzle: its material and thickness, and where it sits."""

    identifier: str
    material: str  # material name, e.g. "Lexan", "PMMA", "Water"
    thickness_mm: float
    isocenter_distance_mm: float  # from isocentre to the slab's centre, along the beam axis
    water_equivalent_thickness_mm: float | None = None
    composition: Material | None = None  # resolved by the reader; the engine needs it


@dataclass
class BeamModel:
    name: str
    nominal_energy_mev: np.ndarray
    mean_energy_mev: np.ndarray
    energy_spread_mev: np.ndarray
    protons_per_mu: np.ndarray
    sigma_x_mm: np.ndarray
    sigma_y_mm: np.ndarray
    divergence_x_rad: np.ndarray
    divergence_y_rad: np.ndarray
    correlation_x: np.ndarray
    correlation_y: np.ndarray
    reference_plane_to_isocenter_mm: float
    virtual_source_axis_distance_mm: tuple[float, float] = (2000.0, 2000.0)
    range_shifters: dict[str, RangeShifter] = field(default_factory=dict)
    source_path: str = ""

    def __post_init__(self) -> None:
        order = np.argsort(np.asarray(self.nominal_energy_mev, dtype=float))
        for name in _COLUMNS:
            setattr(self, name, np.asarray(getattr(self, name), dtype=float)[order])
        if len(self.nominal_energy_mev) == 0:
            raise ValueError("a beam model needs at least one energy")

    @property
    def energy_range_mev(self) -> tuple[float, float]:
        return float(self.nominal_energy_mev[0]), float(self.nominal_energy_mev[-1])

    def covers(self, nominal_energy_mev: float, tolerance_mev: float = 1e-6) -> bool:
        lo, hi = self.energy_range_mev
        return lo - tolerance_mev <= nominal_energy_mev <= hi + tolerance_mev

    def optics(self, nominal_energy_mev: float) -> SpotOptics:
        """Interpolated optics at a nominal energy; raises ValueError outside the table."""
        if not self.covers(nominal_energy_mev):
            lo, hi = self.energy_range_mev
            raise ValueError(
                f"nominal energy {nominal_energy_mev:g} MeV is outside the beam model "
                f"'{self.name}' ({lo:g}-{hi:g} MeV)"
            )
        e = float(nominal_energy_mev)
        values = {n: float(np.interp(e, self.nominal_energy_mev, getattr(self, n))) for n in _COLUMNS[1:]}
        return SpotOptics(nominal_energy_mev=e, **values)


_COLUMNS = (
    "nominal_energy_mev",
    "mean_energy_mev",
    "energy_spread_mev",
    "protons_per_mu",
    "sigma_x_mm",
    "sigma_y_mm",
    "divergence_x_rad",
    "divergence_y_rad",
    "correlation_x",
    "correlation_y",
)
