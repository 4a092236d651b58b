"""Per-material numbers the transport needs: electron density, I-value, stopping power ratio, X0.

The engine transports protons in water-equivalent terms: a step of length s in a voxel costs the
energy a step of s * RSP would cost in water, where RSP is the material's linear stopping power
relative to water.  This module computes RSP and the other per-material constants from the
elemental composition of a :class:`~braggdesk.model.Material` and a mass density.

* Electron density n_e = rho N_A sum_i w_i Z_i/A_i (mass fractions normalised to sum 1).
* Mean excitation energy by Bragg additivity, ln I = sum_i w_i (Z/A)_i ln I_i / sum_i w_i (Z/A)_i,
  with the ICRU 37/49 elemental I-values of ``elements.py`` (compound values for H, C, N, O),
  unless the material states its own ``i_value_ev``.
* Stopping power ratio from the Bethe formula without shell, density-effect or higher-order
  corrections:  S/rho = K (Z/A) / beta^2 * [ 1/2 ln(2 m_e c^2 beta^2 gamma^2 T_max / I^2) - beta^2 ].
  Water is fixed at I = 75 eV (ICRU 49, what PSTAR uses), so RSP is consistent with the PSTAR
  water table.  The corrections left out change tissue RSPs by < 0.1 % at therapy energies
  (Oden et al., "On the calculation of stopping-power ratio for stoichiometric calibration in
  proton therapy", Med. Phys. 42 (2015) 5252).  RSP depends weakly on energy; the value stored in
  :class:`MaterialPhysics` is taken at ``REFERENCE_ENERGY_MEV`` = 100 MeV, and
  :func:`stopping_power_ratio` gives the energy dependence (< 1 % for tissues over 70-230 MeV).
  Note: Bragg additivity with these elemental values gives water 75.3 eV, so a "water" material
  given by composition alone has RSP 0.9995; set ``i_value_ev=75`` to get exactly 1.
* Radiation length of a mixture, 1/X0 = sum_i w_i / X0_i (PDG), in g/cm^2 and in mm at the
  given density.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from braggdesk.errors import InputError
from braggdesk.model import Material

from . import nuclear
from .elements import element, normalised_mass_fractions
from .water import (ELECTRON_MASS_MEV, PROTON_MASS_MEV, WATER_I_VALUE_EV, WATER_MASS_FRACTIONS, WATER_Z_OVER_A,
                    beta_squared)

__all__ = [
    "AVOGADRO_PER_MOL", "REFERENCE_ENERGY_MEV", "WATER", "WATER_ELECTRON_DENSITY_PER_CM3",
    "MaterialPhysics", "material_physics", "normalised_mass_fractions", "z_over_a", "electron_density_per_cm3",
    "mean_excitation_energy_ev", "radiation_length_g_cm2", "bethe_stopping_number", "stopping_power_ratio",
]

AVOGADRO_PER_MOL = 6.02214076e23
REFERENCE_ENERGY_MEV = 100.0

WATER = Material(name="Water", density_g_cm3=1.0, mass_fractions=dict(WATER_MASS_FRACTIONS), i_value_ev=WATER_I_VALUE_EV)
"""Liquid water as ICRU 49 defines it (I = 75 eV), the reference medium of every ratio here."""

WATER_ELECTRON_DENSITY_PER_CM3 = AVOGADRO_PER_MOL * WATER_Z_OVER_A  # 3.3428e23 at 1 g/cm3


@dataclass(frozen=True, eq=False)
class MaterialPhysics:
    """What the transport needs to know about one material at one density.

    ``relative_stopping_power`` and ``electron_density_relative_to_water`` are per volume at
    ``density_g_cm3`` (i.e. they scale with density); ``z_over_a`` and ``i_value_ev`` do not
    depend on density.  :meth:`nonelastic_per_cm` gives the macroscopic nonelastic nuclear
    cross section at this density.
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
    material: Material = field(repr=False)

    def nonelastic_per_cm(self, energy_mev: np.ndarray | float) -> np.ndarray:
        """Macroscopic nonelastic cross section Sigma [1/cm] at this density (see ``nuclear.py``)."""
        return nuclear.nonelastic_macroscopic_per_cm(self.material, self.density_g_cm3, energy_mev)


def z_over_a(material: Material) -> float:
    """<Z/A> in mol/g: sum_i w_i Z_i / A_i."""
    return sum(w * element(s).z_over_a for s, w in normalised_mass_fractions(material).items())


def electron_density_per_cm3(material: Material, density_g_cm3: float | None = None) -> float:
    """Electrons per cm^3 at the given density (the material's nominal one if None)."""
    rho = material.density_g_cm3 if density_g_cm3 is None else density_g_cm3
    return rho * AVOGADRO_PER_MOL * z_over_a(material)


def mean_excitation_energy_ev(material: Material) -> float:
    """The material's own I-value if it has one, else Bragg additivity over its elements."""
    if material.i_value_ev is not None:
        return float(material.i_value_ev)
    fractions = normalised_mass_fractions(material)
    weights = {s: w * element(s).z_over_a for s, w in fractions.items()}
    log_i = sum(wz * math.log(element(s).i_value_ev) for s, wz in weights.items()) / sum(weights.values())
    return math.exp(log_i)


def radiation_length_g_cm2(material: Material) -> float:
    """Radiation length of the mixture, 1/X0 = sum_i w_i / X0_i [g/cm^2]."""
    inverse = sum(w / element(s).radiation_length_g_cm2 for s, w in normalised_mass_fractions(material).items())
    return 1.0 / inverse


def bethe_stopping_number(energy_mev: np.ndarray | float, i_value_ev: float) -> np.ndarray:
    """L = 1/2 ln(2 m_e c^2 beta^2 gamma^2 T_max / I^2) - beta^2 for a proton (no corrections).

    Mass stopping power is K (Z/A) L / beta^2, so at equal energy the ratio of two materials'
    mass stopping powers is (Z/A)_1 L_1 / ((Z/A)_2 L_2).
    """
    b2 = beta_squared(energy_mev)
    g2 = 1.0 / (1.0 - b2)
    bg2 = b2 * g2
    ratio = ELECTRON_MASS_MEV / PROTON_MASS_MEV
    t_max = 2.0 * ELECTRON_MASS_MEV * bg2 / (1.0 + 2.0 * np.sqrt(g2) * ratio + ratio * ratio)
    i_mev = i_value_ev * 1e-6
    return 0.5 * np.log(2.0 * ELECTRON_MASS_MEV * bg2 * t_max / (i_mev * i_mev)) - b2


def stopping_power_ratio(material: Material, energy_mev: np.ndarray | float,
                         density_g_cm3: float | None = None) -> np.ndarray:
    """Linear stopping power of the material relative to water (1 g/cm3, I = 75 eV) at each energy."""
    rho = material.density_g_cm3 if density_g_cm3 is None else density_g_cm3
    l_medium = bethe_stopping_number(energy_mev, mean_excitation_energy_ev(material))
    l_water = bethe_stopping_number(energy_mev, WATER_I_VALUE_EV)
    return rho * z_over_a(material) * l_medium / (WATER_Z_OVER_A * l_water)


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
        material=material,
    )
