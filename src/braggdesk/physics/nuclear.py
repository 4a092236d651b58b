"""Nonelastic proton-nucleus interactions per element (ICRU Report 63 evaluation, via MCsquare).

Data: ``resources/physics/icru63_proton_nuclear_xs_mcsquare.csv`` -- per element (C, N, O, Al, Si,
P, Ca, Ti, Fe, Cu, Ta, W, Pb) the nonelastic cross section sigma(E) [barn] and the fraction of
the nonelastic energy given to heavy recoils, 2-7 MeV up to 250 MeV.

Rules (all documented choices, not data):

* sigma and the recoil fraction are linear in E between tabulated energies (as MCsquare reads
  them).  Below an element's lowest tabulated energy sigma = 0 (the Coulomb barrier: the data
  start at 3-7 MeV); above the highest (250 MeV) the last value is held.
* Hydrogen contributes no nonelastic interaction: p-p has no nonelastic channel below the pion
  production threshold (~280 MeV).  Elastic p-p and p-nucleus scattering is not in this module.
* Elements the table lacks (Na, Mg, S, Cl, Ar, K: trace elements of tissue) borrow the element
  nearest in Z (the lower Z on a tie), with sigma scaled by (A/A_ref)^(2/3) -- the geometric
  nuclear-size scaling sigma ~ pi r0^2 A^(2/3) -- and the same recoil fraction.
* Macroscopic: Sigma(E) = rho N_A sum_i w_i sigma_i(E) / A_i.  Sigma/rho [cm^2/g] does not depend
  on density, so :class:`NuclearTable` stores Sigma/rho per material and the engine multiplies by
  the voxel density.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from braggdesk.errors import InputError
from braggdesk.model import Material

from .constants import AVOGADRO_PER_MOL, BARN_CM2
from .elements import ELEMENTS, element, normalise_mass_fractions
from .loggrid import LogGrid, LogTable
from .packaged import read_packaged_csv
from .water import RangeEnergyTable, water_table

__all__ = [
    "ElementCrossSections", "NuclearTable", "icru63_cross_sections", "element_nonelastic_barn",
    "nonelastic_mass_cm2_g", "nonelastic_macroscopic_per_cm", "recoil_energy_fraction",
    "surviving_fraction", "nuclear_table", "element_sources",
]

_RESOURCE = ("physics", "icru63_proton_nuclear_xs_mcsquare.csv")
_COLUMNS = ("element", "Z", "kinetic_energy_MeV", "sigma_nonelastic_barn", "nonelastic_energy_fraction_to_recoils")


@dataclass(frozen=True, eq=False)
class ElementCrossSections:
    """Tabulated nonelastic data for one element (energies increasing)."""

    symbol: str
    z: int
    energy_mev: np.ndarray
    sigma_nonelastic_barn: np.ndarray
    recoil_fraction: np.ndarray

    def sigma_barn(self, energy_mev: np.ndarray) -> np.ndarray:
        """sigma(E): linear between points, 0 below the first energy, the last value above the last."""
        e = np.asarray(energy_mev, dtype=float)
        sigma = np.interp(e, self.energy_mev, self.sigma_nonelastic_barn)
        return np.where(e < self.energy_mev[0], 0.0, sigma)

    def recoil(self, energy_mev: np.ndarray) -> np.ndarray:
        """Fraction of the nonelastic energy to heavy recoils, linear, held constant outside the table."""
        return np.interp(np.asarray(energy_mev, dtype=float), self.energy_mev, self.recoil_fraction)


@functools.lru_cache(maxsize=1)
def icru63_cross_sections() -> dict[str, ElementCrossSections]:
    """Element symbol -> tabulated data, read once from the packaged CSV."""
    path, rows = read_packaged_csv(_RESOURCE, "nuclear cross-section table")
    if not rows or any(c not in rows[0] for c in _COLUMNS):
        raise InputError(path, f"expected CSV columns {', '.join(_COLUMNS)}, found {list(rows[0]) if rows else 'no rows'}")
    by_name = {e.name: e for e in ELEMENTS.values()}
    grouped: dict[str, list[tuple[float, float, float]]] = {}
    for n, row in enumerate(rows, start=2):
        name = row["element"].strip().lower()
        if name not in by_name:
            raise InputError(path, f"line {n}: element {name!r} is not in braggdesk's element table")
        if int(row["Z"]) != by_name[name].z:
            raise InputError(path, f"line {n}: {name} has Z={row['Z']}, expected {by_name[name].z}")
        try:
            values = (float(row["kinetic_energy_MeV"]), float(row["sigma_nonelastic_barn"]),
                      float(row["nonelastic_energy_fraction_to_recoils"]))
        except ValueError as exc:
            raise InputError(path, f"line {n}: energy, nonelastic sigma and recoil fraction must be numbers ({exc})") from exc
        grouped.setdefault(by_name[name].symbol, []).append(values)
    out: dict[str, ElementCrossSections] = {}
    for symbol, values in grouped.items():
        arr = np.array(values)
        if np.any(np.diff(arr[:, 0]) <= 0) or np.any(arr[:, 1] < 0):
            raise InputError(path, f"{symbol}: energies must increase and cross sections be >= 0")
        columns = [np.ascontiguousarray(arr[:, j]) for j in range(3)]
        for c in columns:
            c.setflags(write=False)  # shared through the cache
        out[symbol] = ElementCrossSections(symbol, ELEMENTS[symbol].z, *columns)
    return out


def _source(symbol: str, material_name: str = "") -> tuple[ElementCrossSections | None, float]:
    """The tabulated element to use for ``symbol`` and the sigma scale factor (None for hydrogen)."""
    el = element(symbol, material_name)
    if el.z == 1:
        return None, 0.0
    table = icru63_cross_sections()
    if symbol in table:
        return table[symbol], 1.0
    ref = min(table.values(), key=lambda t: (abs(t.z - el.z), t.z))
    return ref, (el.a_g_mol / ELEMENTS[ref.symbol].a_g_mol) ** (2.0 / 3.0)


def element_nonelastic_barn(symbol: str, energy_mev: np.ndarray | float) -> np.ndarray:
    """Nonelastic sigma [barn] of one element (hydrogen 0, missing elements borrowed and scaled)."""
    e = np.asarray(energy_mev, dtype=float)
    src, scale = _source(symbol)
    return np.zeros_like(e) if src is None else scale * src.sigma_barn(e)


def _weights(material: Material) -> dict[str, float]:
    """w_i / A_i [mol/g] per element, mass fractions normalised to 1."""
    return {s: w / element(s, material.name).a_g_mol for s, w in normalise_mass_fractions(material.mass_fractions, material.name).items()}


def element_sources(material: Material, energy_mev: np.ndarray | float) -> list[tuple[str, np.ndarray]]:
    """Per nonelastic element of ``material``: (symbol of the tabulated element used, its part of
    Sigma/rho at ``energy_mev``, in the units of :func:`nonelastic_mass_cm2_g`).

    Hydrogen is left out (no nonelastic channel); elements the table lacks name the element they
    borrow from.  The parts sum to :func:`nonelastic_mass_cm2_g`.
    """
    e = np.asarray(energy_mev, dtype=float)
    out = []
    for symbol, n in _weights(material).items():
        src, scale = _source(symbol, material.name)
        if src is not None:
            out.append((src.symbol, AVOGADRO_PER_MOL * BARN_CM2 * n * scale * src.sigma_barn(e)))
    return out


def nonelastic_mass_cm2_g(material: Material, energy_mev: np.ndarray | float) -> np.ndarray:
    """Sigma / rho = N_A sum_i w_i sigma_i(E) / A_i [cm^2/g]."""
    e = np.asarray(energy_mev, dtype=float)
    out = np.zeros_like(e)
    for symbol, n in _weights(material).items():
        src, scale = _source(symbol, material.name)
        if src is not None:
            out = out + n * scale * src.sigma_barn(e)
    return AVOGADRO_PER_MOL * BARN_CM2 * out


def nonelastic_macroscopic_per_cm(material: Material, density_g_cm3: float | None,
                                  energy_mev: np.ndarray | float) -> np.ndarray:
    """Macroscopic nonelastic cross section Sigma [1/cm] = rho * Sigma/rho (nominal density if None)."""
    rho = material.density_g_cm3 if density_g_cm3 is None else density_g_cm3
    return rho * nonelastic_mass_cm2_g(material, energy_mev)


def recoil_energy_fraction(material: Material, energy_mev: np.ndarray | float) -> np.ndarray:
    """Sigma-weighted mean over the elements of the fraction of nonelastic energy given to heavy recoils.

    That energy is deposited locally by the engine.  0 where the material has no nonelastic
    cross section (below threshold, or pure hydrogen).
    """
    e = np.asarray(energy_mev, dtype=float)
    num = np.zeros_like(e)
    den = np.zeros_like(e)
    for symbol, n in _weights(material).items():
        src, scale = _source(symbol, material.name)
        if src is not None:
            s = n * scale * src.sigma_barn(e)
            num = num + s * src.recoil(e)
            den = den + s
    return np.divide(num, den, out=np.zeros_like(e), where=den > 0)


def surviving_fraction(material: Material, density_g_cm3: float | None, initial_energy_mev: float,
                       final_energy_mev: np.ndarray | float = 0.0, table: RangeEnergyTable | None = None) -> np.ndarray:
    """Fraction of primaries with no nonelastic interaction while slowing from E0 to E (CSDA).

    P(E) = exp(-int_E^E0 Sigma(E') / S(E') dE'), S = linear stopping power = water mass stopping
    power (``table``, default :func:`water_table`) * 1 g/cm3 * the material's relative stopping
    power at its reference energy.  The density cancels for a given composition.  Integrated by
    the trapezoid rule on a 0.02 MeV grid.  ``final_energy_mev`` = 0 gives the end-of-range value.
    """
    from .material_constants import material_physics  # material_constants imports this module; import late

    table = water_table() if table is None else table
    mp = material_physics(material, density_g_cm3)
    e_end = np.asarray(final_energy_mev, dtype=float)
    n = max(int(np.ceil(initial_energy_mev / 0.02)), 2) + 1
    e = np.linspace(0.0, initial_energy_mev, n)
    s_lin = np.maximum(table.stopping_power(e), 1e-30) * mp.relative_stopping_power
    integrand = nonelastic_macroscopic_per_cm(material, mp.density_g_cm3, e) / s_lin
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(e))])
    integral_from_zero = np.interp(np.clip(e_end, 0.0, initial_energy_mev), e, cumulative)
    return np.exp(-(cumulative[-1] - integral_from_zero))


@dataclass(frozen=True, eq=False)
class NuclearTable:
    """Per material index, Sigma/rho [cm^2/g] and the recoil energy fraction, as :class:`LogTable` rows.

    Row ``k`` belongs to ``materials[k]`` of :func:`nuclear_table`'s argument (e.g. a
    :class:`~braggdesk.model.CtCalibration`'s material list, so the engine indexes it with the
    voxel material index).  Both tables share one energy grid (by default the water table's, so
    one grid position serves the stopping power and the cross section).
    Sigma [1/cm] = voxel density * ``nonelastic_mass_cm2_g`` at (row, energy).
    """

    material_names: tuple[str, ...]
    nonelastic_mass_cm2_g: LogTable  # values (n_materials, n_energy)
    recoil_energy_fraction: LogTable  # values (n_materials, n_energy)

    @property
    def grid(self) -> LogGrid:
        return self.nonelastic_mass_cm2_g.grid

    def nonelastic_per_cm(self, material_index: np.ndarray | int, density_g_cm3: np.ndarray | float,
                          energy_mev: np.ndarray | float) -> np.ndarray:
        """Sigma [1/cm] by index lookup, linear in value between grid nodes, held outside the grid."""
        per_mass = self.nonelastic_mass_cm2_g.lookup(energy_mev, np.asarray(material_index))
        return np.asarray(density_g_cm3, dtype=float) * per_mass


def nuclear_table(materials: Sequence[Material], grid: LogGrid | RangeEnergyTable | None = None) -> NuclearTable:
    """Tabulate Sigma/rho and the recoil fraction of each material on ``grid`` (default: the water table's energy grid)."""
    if grid is None:
        grid = water_table()
    if isinstance(grid, RangeEnergyTable):
        grid = grid.energy_grid
    materials = list(materials)
    return NuclearTable(
        material_names=tuple(m.name for m in materials),
        nonelastic_mass_cm2_g=LogTable.sample(grid, [functools.partial(nonelastic_mass_cm2_g, m) for m in materials]),
        recoil_energy_fraction=LogTable.sample(grid, [functools.partial(recoil_energy_fraction, m) for m in materials]),
    )
