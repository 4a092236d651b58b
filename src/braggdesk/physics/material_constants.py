"""Per-material numbers the transport needs: electron density, I-value, stopping power ratio, X0.

* Electron density n_e = rho N_A sum_i w_i Z_i/A_i (mass fractions normalised to sum 1).
* Relative stopping power: density times the mass stopping-power ratio of :mod:`.stopping`
  (MCsquare's table for a material of MCsquare's database, else Bethe relative to ICRU 90 water),
  taken at ``REFERENCE_ENERGY_MEV`` = 100 MeV; :func:`stopping_power_ratio` gives the energy
  dependence (0.3 % for tissues over 70-230 MeV).
* Radiation length of a mixture, 1/X0 = sum_i w_i / X0_i (PDG), in g/cm^2 and in mm at the given
  density; for a material of MCsquare's database the X0 MCsquare's own file gives.

:func:`material_constants` is what a compiled kernel packs: one row per material of a
calibration, numpy arrays, density-free (a voxel multiplies by its own density).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from braggdesk.errors import InputError
from braggdesk.model import Material

from . import nuclear
from .constants import AVOGADRO_PER_MOL
from .elements import ELEMENTS, normalise_mass_fractions
from .elements import z_over_a as _z_over_a_of_fractions
from .mcsquare import mcsquare_materials, mcsquare_stopping_table_name
from .stopping import (REFERENCE_ENERGY_MEV, REFERENCE_WATER_I_VALUE_EV, WATER_MASS_FRACTIONS, WATER_Z_OVER_A,
                       bethe_stopping_number, mass_stopping_power_ratio, mean_excitation_energy_ev,
                       stopping_power_source)

__all__ = [
    "AVOGADRO_PER_MOL", "REFERENCE_ENERGY_MEV", "WATER", "WATER_ELECTRON_DENSITY_PER_CM3",
    "MaterialConstants", "MaterialPhysics", "bethe_stopping_number", "electron_density_per_cm3", "material_constants",
    "material_physics", "mean_excitation_energy_ev", "radiation_length_g_cm2", "stopping_power_ratio", "z_over_a",
]

WATER = Material(name="Water", density_g_cm3=1.0, mass_fractions=dict(WATER_MASS_FRACTIONS),
                 i_value_ev=REFERENCE_WATER_I_VALUE_EV)
"""Liquid water as ICRU Report 90 gives it (I = 78 eV), the reference medium of every ratio here."""

WATER_ELECTRON_DENSITY_PER_CM3 = AVOGADRO_PER_MOL * WATER_Z_OVER_A  # 3.3428e23 at 1 g/cm3


@dataclass(frozen=True, eq=False)
class MaterialPhysics:
    """What the transport needs to know about one material at one density.

    ``relative_stopping_power`` and ``electron_density_relative_to_water`` are per volume at
    ``density_g_cm3`` (i.e. they scale with density); ``z_over_a``, ``i_value_ev`` and
    ``radiation_length_g_cm2`` do not depend on density.  ``stopping_power_source`` says where
    the stopping power came from.  :meth:`nonelastic_per_cm` gives the macroscopic nonelastic
    nuclear cross section at this density.
    """

    name: str
    density_g_cm3: float
    electron_density_per_cm3: float
    electron_density_relative_to_water: float
    i_value_ev: float
    z_over_a: float
    relative_stopping_power: float
    radiation_length_g_cm2: float
    radiation_length_mm: float
    stopping_power_source: str
    material: Material = field(repr=False)

    def nonelastic_per_cm(self, energy_mev: np.ndarray | float) -> np.ndarray:
        """Macroscopic nonelastic cross section Sigma [1/cm] at this density (see ``nuclear.py``)."""
        return nuclear.nonelastic_macroscopic_per_cm(self.material, self.density_g_cm3, energy_mev)


def z_over_a(material: Material) -> float:
    """<Z/A> in mol/g: sum_i w_i Z_i / A_i."""
    return _z_over_a_of_fractions(material.mass_fractions, material.name)


def electron_density_per_cm3(material: Material, density_g_cm3: float | None = None) -> float:
    """Electrons per cm^3 at the given density (the material's nominal one if None)."""
    rho = material.density_g_cm3 if density_g_cm3 is None else density_g_cm3
    return rho * AVOGADRO_PER_MOL * z_over_a(material)


def radiation_length_g_cm2(material: Material) -> float:
    """Radiation length [g/cm^2]: MCsquare's for its own materials, else 1/X0 = sum_i w_i / X0_i."""
    table = mcsquare_stopping_table_name(material.stopping_power_table or "")
    if table is not None and table in mcsquare_materials():
        return mcsquare_materials()[table].radiation_length_g_cm2
    fractions = normalise_mass_fractions(material.mass_fractions, material.name)
    return 1.0 / sum(w / ELEMENTS[s].radiation_length_g_cm2 for s, w in fractions.items())


def stopping_power_ratio(material: Material, energy_mev: np.ndarray | float,
                         density_g_cm3: float | None = None) -> np.ndarray:
    """Linear stopping power of the material relative to water at each energy (nominal density if None)."""
    rho = material.density_g_cm3 if density_g_cm3 is None else density_g_cm3
    return rho * mass_stopping_power_ratio(material, energy_mev)


def material_physics(material: Material, density_g_cm3: float | None = None) -> MaterialPhysics:
    """All per-material constants at ``density_g_cm3`` (the material's nominal density if None)."""
    rho = float(material.density_g_cm3 if density_g_cm3 is None else density_g_cm3)
    if not rho >= 0.0 or not math.isfinite(rho):
        raise InputError(None, f"material {material.name!r}: density must be a finite number >= 0 g/cm3, found {rho}")
    n_e = electron_density_per_cm3(material, rho)
    x0 = radiation_length_g_cm2(material)
    return MaterialPhysics(
        name=material.name,
        density_g_cm3=rho,
        electron_density_per_cm3=n_e,
        electron_density_relative_to_water=n_e / WATER_ELECTRON_DENSITY_PER_CM3,
        i_value_ev=mean_excitation_energy_ev(material),
        z_over_a=z_over_a(material),
        relative_stopping_power=float(stopping_power_ratio(material, REFERENCE_ENERGY_MEV, rho)),
        radiation_length_g_cm2=x0,
        radiation_length_mm=10.0 * x0 / rho if rho > 0 else math.inf,
        stopping_power_source=stopping_power_source(material),
        material=material,
    )


@dataclass(frozen=True, eq=False)
class MaterialConstants:
    """Density-free constants of a list of materials, one row each (a calibration's ``materials``).

    A voxel of material ``k`` and density rho has RSP = rho * ``mass_rsp[k]`` and
    1/X0 = rho / ``radiation_length_g_cm2[k]`` (in 1/cm).  Arrays are float64, read-only.
    """

    names: tuple[str, ...]
    mass_rsp: np.ndarray = field(repr=False)  # RSP at 1 g/cm3, at REFERENCE_ENERGY_MEV
    radiation_length_g_cm2: np.ndarray = field(repr=False)
    i_value_ev: np.ndarray = field(repr=False)
    z_over_a: np.ndarray = field(repr=False)
    stopping_power_sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("mass_rsp", "radiation_length_g_cm2", "i_value_ev", "z_over_a"):
            arr = np.array(getattr(self, name), dtype=np.float64)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)


def material_constants(materials: Sequence[Material]) -> MaterialConstants:
    """:class:`MaterialConstants` of ``materials``, in their order."""
    phys = [material_physics(m, 1.0) for m in materials]
    return MaterialConstants(
        names=tuple(p.name for p in phys),
        mass_rsp=np.array([p.relative_stopping_power for p in phys]),
        radiation_length_g_cm2=np.array([p.radiation_length_g_cm2 for p in phys]),
        i_value_ev=np.array([p.i_value_ev for p in phys]),
        z_over_a=np.array([p.z_over_a for p in phys]),
        stopping_power_sources=tuple(p.stopping_power_source for p in phys),
    )
