"""A machine's beam model: what the nozzle delivers for each nominal energy.

Optics are Gaussian emittance parameters at a reference plane at
``reference_plane_to_isocenter_mm`` upstream of the isocentre, along the beam
axis (DCPT: 500 mm in v2, 600 mm in v5).  Sizes are 1 sigma.  Values between
tabulated energies are interpolated linearly.

A spot may be the sum of two Gaussians (MCsquare's "double Gaussian" model: a
core and a wide, low-weight nuclear halo from the nozzle).  ``weight2`` is the
fraction of the spot's protons in the second Gaussian (0: single Gaussian, the
``*2`` fields are then unused); ``protons_per_mu`` counts both.  The second
Gaussian has its own size, divergence and correlation (the ``2`` in
``sigma_x2_mm`` names the component, it is not a square), given at the same
reference plane and around the same central ray as the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .material import Material


@dataclass(frozen=True)
class SpotOptics:
    """Phase space of one spot at the reference plane, for one nominal energy.

    A proton belongs to the second Gaussian with probability ``weight2``, else to the first.
    The second Gaussian's fields default to 0 so that callers that know one Gaussian only
    build exactly the single-Gaussian spot they built before.
    """

    nominal_energy_mev: float
    mean_energy_mev: float
    energy_spread_mev: float  # 1 sigma
    protons_per_mu: float  # both Gaussians together
    sigma_x_mm: float
    sigma_y_mm: float
    divergence_x_rad: float
    divergence_y_rad: float
    correlation_x: float
    correlation_y: float
    weight2: float = 0.0  # fraction of the protons in the second Gaussian, in [0, 1)
    sigma_x2_mm: float = 0.0
    sigma_y2_mm: float = 0.0
    divergence_x2_rad: float = 0.0
    divergence_y2_rad: float = 0.0
    correlation_x2: float = 0.0
    correlation_y2: float = 0.0


@dataclass(frozen=True)
class RangeShifter:
    """A slab in the nozzle: its material and thickness, and where it sits."""

    identifier: str
    material: str  # material name, e.g. "Lexan", "PMMA", "Water"
    thickness_mm: float
    isocenter_distance_mm: float  # from isocentre to the slab's centre, along the beam axis
    water_equivalent_thickness_mm: float | None = None
    composition: Material | None = None  # resolved by the reader; the engine needs it


class BeamModelError(ValueError):
    """A tabulated value outside its physical range.

    It keeps the energy and the field apart from the text so that a file reader can point
    at the line and use the file's own column name (:meth:`describe`).
    """

    def __init__(self, source: str, nominal_energy_mev: float, field_name: str, value: float, requirement: str):
        self.source = source
        self.nominal_energy_mev = float(nominal_energy_mev)
        self.field_name = field_name
        self.value = float(value)
        self.requirement = requirement
        super().__init__(f"{source}: {self.describe()}")

    def describe(self, field_label: str | None = None) -> str:
        """The problem without the source, naming the field as ``field_label`` when given."""
        return (f"nominal energy {self.nominal_energy_mev:g} MeV: {field_label or self.field_name} = "
                f"{self.value:g} {self.requirement}")


@dataclass
class BeamModel:
    """Per-energy tables (one array per :class:`SpotOptics` field) sorted by nominal energy, and the nozzle.

    Built with impossible optics (see :meth:`_validate`) it raises :class:`BeamModelError`.
    """

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
    # The second Gaussian, one value per energy; None (the default) means none: zeros.
    weight2: np.ndarray | None = None
    sigma_x2_mm: np.ndarray | None = None
    sigma_y2_mm: np.ndarray | None = None
    divergence_x2_rad: np.ndarray | None = None
    divergence_y2_rad: np.ndarray | None = None
    correlation_x2: np.ndarray | None = None
    correlation_y2: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.nominal_energy_mev) == 0:
            raise ValueError("a beam model needs at least one energy")
        self._fill_second_gaussian()
        order = np.argsort(np.asarray(self.nominal_energy_mev, dtype=float))
        for name in _COLUMNS:
            column = np.asarray(getattr(self, name), dtype=float)
            if column.shape != order.shape:
                raise ValueError(f"{self._source()}: {name} has {column.size} values for "
                                 f"{order.size} nominal energies")
            setattr(self, name, column[order])
        self._validate()

    def __setstate__(self, state: dict) -> None:
        """Unpickle, also a model pickled before the second Gaussian existed (it gets none)."""
        self.__dict__.update(state)
        self._fill_second_gaussian()

    def _fill_second_gaussian(self) -> None:
        """Zeros for each second-Gaussian column not given: a weight of 0 is a single Gaussian."""
        count = len(self.nominal_energy_mev)
        for name in _SECOND_GAUSSIAN:
            if getattr(self, name, None) is None:
                setattr(self, name, np.zeros(count))

    def _source(self) -> str:
        return self.source_path or f"beam model '{self.name}'"

    def _validate(self) -> None:
        """Refuse values no Gaussian phase space has, before any proton is sampled from them.

        Rows only: linear interpolation between two valid rows stays valid (a weight in
        [0, 1), sizes >= 0, |correlation| < 1 are convex; a size is > 0 wherever the
        interpolated weight is, since the row with weight > 0 has size > 0).
        """
        has_halo = self.weight2 > 0
        checks = [("weight2", ~((self.weight2 >= 0) & (self.weight2 < 1)), "is outside [0, 1)")]
        for name in ("sigma_x_mm", "sigma_y_mm", "divergence_x_rad", "divergence_y_rad",
                     "divergence_x2_rad", "divergence_y2_rad", "sigma_x2_mm", "sigma_y2_mm"):
            checks.append((name, ~(getattr(self, name) >= 0), "is negative"))
        for name in ("sigma_x2_mm", "sigma_y2_mm"):
            checks.append((name, has_halo & ~(getattr(self, name) > 0),
                           "is not positive, but the second Gaussian has a weight"))
        for name in ("correlation_x", "correlation_y", "correlation_x2", "correlation_y2"):
            checks.append((name, ~(np.abs(getattr(self, name)) < 1), "is not between -1 and 1 (exclusive)"))
        for name, bad, requirement in checks:
            if np.any(bad):
                k = int(np.argmax(bad))
                raise BeamModelError(self._source(), self.nominal_energy_mev[k], name,
                                     getattr(self, name)[k], requirement)

    @property
    def energy_range_mev(self) -> tuple[float, float]:
        return float(self.nominal_energy_mev[0]), float(self.nominal_energy_mev[-1])

    @property
    def double_gaussian(self) -> bool:
        """True when some energy puts protons in the second Gaussian."""
        return bool(np.any(self.weight2 > 0))

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


#: The second Gaussian's columns, in SpotOptics order.
_SECOND_GAUSSIAN = (
    "weight2",
    "sigma_x2_mm",
    "sigma_y2_mm",
    "divergence_x2_rad",
    "divergence_y2_rad",
    "correlation_x2",
    "correlation_y2",
)

#: Every per-energy column of BeamModel, also every field of SpotOptics, in the same order.
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
    *_SECOND_GAUSSIAN,
)
