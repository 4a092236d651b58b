"""Relativistic kinematics of a proton of given kinetic energy."""

from __future__ import annotations

import numpy as np

from .constants import PROTON_MASS_MEV

__all__ = ["beta_squared", "p_beta_mev"]


def beta_squared(kinetic_energy_mev: np.ndarray | float) -> np.ndarray:
    """beta^2 = 1 - 1/gamma^2 of a proton with this kinetic energy."""
    gamma = 1.0 + np.asarray(kinetic_energy_mev, dtype=float) / PROTON_MASS_MEV
    return 1.0 - 1.0 / (gamma * gamma)


def p_beta_mev(kinetic_energy_mev: np.ndarray | float) -> np.ndarray:
    """p*beta*c of a proton [MeV]: pv = T (T + 2M) / (T + M), the quantity in Highland's formula."""
    t = np.asarray(kinetic_energy_mev, dtype=float)
    return t * (t + 2.0 * PROTON_MASS_MEV) / (t + PROTON_MASS_MEV)
