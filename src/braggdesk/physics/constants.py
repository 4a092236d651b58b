"""Physical constants, each defined once (CODATA 2018 and the PDG Review)."""

from __future__ import annotations

__all__ = [
    "AVOGADRO_PER_MOL", "BARN_CM2", "BETHE_K_MEV_CM2_MOL", "ELECTRON_MASS_MEV", "FINE_STRUCTURE", "HIGHLAND_ES_MEV",
    "MEV_TO_GY_G", "PROTON_MASS_MEV",
]

PROTON_MASS_MEV = 938.272088  # CODATA 2018
ELECTRON_MASS_MEV = 0.51099895  # CODATA 2018
AVOGADRO_PER_MOL = 6.02214076e23  # exact (SI 2019)
FINE_STRUCTURE = 1 / 137.035999  # CODATA 2018
BETHE_K_MEV_CM2_MOL = 0.307075  # K = 4 pi N_A r_e^2 m_e c^2 (PDG)
HIGHLAND_ES_MEV = 13.6  # Highland's constant (PDG form of the Highland formula)
BARN_CM2 = 1e-24
MEV_TO_GY_G = 1.602176634e-10  # 1 MeV deposited in 1 g is this many Gy
