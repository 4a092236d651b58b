"""Proton-proton elastic scattering on the hydrogen of a material.

Why it is in the engine: in water Sigma_pp = 0.0017 /cm at 150 MeV, so about 3 % of the protons
of a 160 MeV beam scatter elastically off a hydrogen nucleus on their way, handing it on average
half their energy.  The recoil proton deposits that energy over its own range, a centimetre or more downstream, instead
of the primary depositing it by ionisation near the end of its range: a few per cent more dose
in the plateau of a broad field, a little less in the peak.

Cross section: sigma_pp(E) for water, Sigma = 0.315 E^-1.126 + 3.78e-6 E  [1/cm, E in MeV,
E > 10 MeV], the parametrisation MCsquare uses (K. Souris et al., Med. Phys. 43 (2016) 1700,
``compute_nuclear_interaction.c``).  Per hydrogen atom it is 25.3 mb at 150 MeV and 31.9 mb at
100 MeV, the measured p-p elastic cross sections at those energies.  Other materials scale by
their hydrogen mass fraction (water's is 0.1119).  Below 10 MeV it is set to 0: the recoils
would be shorter than a voxel and the primary's loss is already in the stopping power's spread.

Kinematics: isotropic in the centre-of-mass frame (p-p elastic scattering is nearly so below
~300 MeV).  With cos(theta*) uniform, the recoil takes T2 = T (1 - cos theta*) / 2 -- uniform
on [0, T] -- and the lab angles follow from relativistic two-body kinematics for equal masses:
tan(theta1) = sin(theta*) / (gamma* (1 + cos theta*)), tan(theta2) = sin(theta*) / (gamma* (1 -
cos theta*)), gamma*^2 = 1 + T / (2 m c^2); azimuths differ by pi.
"""

from __future__ import annotations

import numpy as np

from braggdesk.model import Material

from .constants import AVOGADRO_PER_MOL, PROTON_MASS_MEV
from .elements import ELEMENTS, normalise_mass_fractions

__all__ = ["PP_ELASTIC_MIN_MEV", "WATER_HYDROGEN_MASS_FRACTION", "pp_elastic_macroscopic_per_cm",
           "pp_elastic_sigma_mb", "pp_lab_angles"]

PP_ELASTIC_MIN_MEV = 10.0
WATER_HYDROGEN_MASS_FRACTION = 0.1119  # the water the parametrisation was made for


def _water_sigma_per_cm(energy_mev: np.ndarray) -> np.ndarray:
    e = np.asarray(energy_mev, dtype=float)
    safe = np.maximum(e, PP_ELASTIC_MIN_MEV)
    return np.where(e > PP_ELASTIC_MIN_MEV, 0.315 * safe ** -1.126 + 3.78e-6 * safe, 0.0)


def pp_elastic_macroscopic_per_cm(material: Material, density_g_cm3: float | None,
                                  energy_mev: np.ndarray | float) -> np.ndarray:
    """Sigma_pp [1/cm] of ``material`` at ``density_g_cm3`` (its nominal density if None)."""
    rho = material.density_g_cm3 if density_g_cm3 is None else density_g_cm3
    w_h = normalise_mass_fractions(material.mass_fractions, material.name).get("H", 0.0)
    return rho * w_h / WATER_HYDROGEN_MASS_FRACTION * _water_sigma_per_cm(energy_mev)


def pp_elastic_sigma_mb(energy_mev: np.ndarray | float) -> np.ndarray:
    """The parametrisation per hydrogen atom, in millibarn (for checks against p-p data)."""
    atoms_per_cm3 = WATER_HYDROGEN_MASS_FRACTION * AVOGADRO_PER_MOL / ELEMENTS["H"].a_g_mol
    return _water_sigma_per_cm(energy_mev) / atoms_per_cm3 * 1e27


def pp_lab_angles(xp, energy_mev, cos_cm):
    """Lab polar angles (scattered, recoil) [rad] for centre-of-mass cosine ``cos_cm``."""
    gamma_cm = xp.sqrt(1.0 + energy_mev / (2.0 * PROTON_MASS_MEV))
    sin_cm = xp.sqrt(xp.maximum(1.0 - cos_cm * cos_cm, 0.0))
    theta1 = xp.arctan2(sin_cm, gamma_cm * (1.0 + cos_cm))
    theta2 = xp.arctan2(sin_cm, gamma_cm * (1.0 - cos_cm))
    return theta1, theta2
