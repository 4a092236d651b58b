"""Stopping power of a material relative to water: what sets every range in the CT.

The engine transports protons in water-equivalent terms: a step of length s in a voxel costs
the energy that s * RSP costs in water, RSP being the voxel's linear stopping power over water's.
This module gives the *mass* stopping-power ratio of a material (RSP at 1 g/cm^3); a voxel's RSP
is its density times that.

Two sources:

* a material of MCsquare's database (``stopping_power_table = "mcsquare:<name>"``): MCsquare's
  own tabulated ratio (:mod:`.mcsquare`), so an MCsquare scanner gives MCsquare's ranges;
* any other material: Bethe's formula without shell, density-effect or higher-order terms,
  S/rho = K (Z/A) / beta^2 [1/2 ln(2 m_e c^2 beta^2 gamma^2 T_max / I^2) - beta^2], relative to
  liquid water with ``REFERENCE_WATER_I_VALUE_EV`` = 78 eV.  The material's I-value is its own
  (ICRU 37/49 tabulates measured values for PMMA 74.0, polystyrene 68.7, air 85.7 eV, which
  Bragg additivity misses by 1-3 eV) or Bragg additivity, ln I = sum w_i (Z/A)_i ln I_i /
  sum w_i (Z/A)_i, with the I-values of atoms in condensed compounds (:mod:`.elements`:
  H 19.2, C 81, N 82, O 106 eV, others 1.13 x elemental, ICRU 37); a single element uses its
  elemental value.  The corrections left out change ratios by < 0.1 % above 70 MeV: the
  density effect is zero for protons below ~500 MeV in insulators (beta gamma below Sternheimer's
  X0), shell corrections cancel in the ratio to < 0.1 % (Oden et al., Med. Phys. 42 (2015) 5252).

Why water at 78 eV (ICRU Report 90, 2016) while the absolute water table stays PSTAR's (ICRU 49,
75 eV): the absolute table only sets water ranges, and beam models are commissioned against
measured water ranges; the *ratio* sets every range in tissue, and ICRU 90's water is the current
recommendation and what Geant4's G4_WATER uses (so TOPAS, and the tables MCsquare transports with:
their water is 0.45 % below PSTAR at 100 MeV, as 78 eV against 75 eV gives).  The cause of issue 13's "stopping power in tissue
about 1 % low", measured at 100 MeV:

==========================  ======================  ========================  =================
material (at 100 MeV)       braggdesk before         braggdesk now             reference
==========================  ======================  ========================  =================
UCL_Toshiba HU 0 (SI4)      1.0065                   1.0171 (MCsquare table)   MCsquare 1.0171
UCL_Toshiba HU 20           1.0516                   1.0648                    MCsquare 1.065
UCL_Toshiba HU 1000         1.3999                   1.4136                    MCsquare 1.414
Solid Water HE, 1.032       1.0105 (I 70.2 / 75)     1.0153 (I 70.4 / 78)      5-code median ~1.015
PMMA, 1.19                  1.1647 (I 70.9 / 75)     1.1641 (I 74.0 / 78)      measured 1.160-1.165
water                       1                        1                         1
==========================  ======================  ========================  =================

(1) water's I: braggdesk divided by water at 75 eV, the Geant4-based references by water at 78 eV:
+0.45 % on every ratio; (2) MCsquare's tissue tables come from Geant4's elemental I-values
(gas-phase oxygen 95 eV, no factor 1.13), a further +0.2 % (adipose) to +1.0 % (bone) that only
MCsquare's tables give: used for its scanners;
(3) ICRU 37's factor 1.13 for atoms other than H, C, N, O, F, Cl was missing: bone I-values
3-4 eV low, bone RSP 0.4 % high; (4) PMMA's measured I (74 eV) instead of Bragg's 70.9 eV.
On the DCPT slab phantom (real Eclipse plan 02, 160 MeV, geometry D, DCPT beam model v2; 0.5 mm
voxels along the beam, 4 x 4 cm central average, three seeds) R80 moved from 152.17 to 151.33 mm
behind the isocentre (0.84 mm, as 0.47 % of 169 mm of Solid Water predicts); the five reference
Monte Carlo codes of APTG/2022_DCPT_LET give 151.06 (FLUKA), 151.21 (MCNP), 151.40
(OpenSHIELD-HIT), 150.99 (SHIELD-HIT12A) and 149.35 mm (TOPAS, Solid Water at 1.039 g/cm^3):
median 151.06, so braggdesk went from 1.1 mm to 0.27 mm beyond it.

Energy dependence: the engine uses one ratio per material, at ``REFERENCE_ENERGY_MEV`` = 100 MeV.
Over 70-230 MeV MCsquare's tissue and bone ratios change by 0.3 %, Bethe's (Schneider 2000 tissues)
by up to 0.6 % for dense bone; a proton that stops in one homogeneous tissue travels at most
0.22 mm (MCsquare's tables) or 0.21 mm (Bethe) less or more than with the 100 MeV ratio (full range
at 70, 150 and 230 MeV; adipose mixtures and marrow/bone are the extremes), so no per-energy table
is needed (threshold 0.3 mm).  :func:`mass_stopping_power_ratio` takes any energy, should a kernel
want to sample it on a :class:`~braggdesk.physics.loggrid.LogGrid`.
"""

from __future__ import annotations

import math

import numpy as np

from braggdesk.errors import InputError
from braggdesk.model import Material

from .constants import ELECTRON_MASS_MEV, PROTON_MASS_MEV
from .elements import ELEMENTS, normalise_mass_fractions, z_over_a
from .kinematics import beta_squared
from .mcsquare import mcsquare_mass_stopping_ratio, mcsquare_stopping_table_name

__all__ = [
    "REFERENCE_ENERGY_MEV", "REFERENCE_WATER_I_VALUE_EV", "WATER_MASS_FRACTIONS", "WATER_Z_OVER_A", "beta_squared",
    "bethe_stopping_number", "mass_stopping_power_ratio", "mean_excitation_energy_ev", "stopping_power_source",
]

REFERENCE_ENERGY_MEV = 100.0
REFERENCE_WATER_I_VALUE_EV = 78.0  # ICRU Report 90 (2016), liquid water
WATER_MASS_FRACTIONS: dict[str, float] = {"H": 0.111894, "O": 0.888106}
WATER_Z_OVER_A: float = z_over_a(WATER_MASS_FRACTIONS)
"""Z/A of water in mol/g (0.55508)."""


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


def mean_excitation_energy_ev(material: Material) -> float:
    """The material's own I-value if it has one; an element's elemental value; else Bragg additivity
    with the I-values of atoms in condensed compounds (ICRU 37)."""
    if material.i_value_ev is not None:
        return float(material.i_value_ev)
    fractions = normalise_mass_fractions(material.mass_fractions, material.name)
    if len(fractions) == 1:
        return ELEMENTS[next(iter(fractions))].i_value_ev
    weights = {s: w * ELEMENTS[s].z_over_a for s, w in fractions.items()}
    log_i = sum(wz * math.log(ELEMENTS[s].i_value_in_compound_ev) for s, wz in weights.items()) / sum(weights.values())
    return math.exp(log_i)


def mass_stopping_power_ratio(material: Material, energy_mev: np.ndarray | float) -> np.ndarray:
    """(S/rho)_material / (S/rho)_water at each energy: the RSP at 1 g/cm^3 (see the module docstring)."""
    table = mcsquare_stopping_table_name(material.stopping_power_table or "")
    if table is not None:
        return mcsquare_mass_stopping_ratio(table, energy_mev)
    if material.stopping_power_table:
        raise InputError(None, f"material {material.name!r}: unknown stopping-power table "
                               f"{material.stopping_power_table!r} (known: 'mcsquare:<MCsquare material name>')")
    l_medium = bethe_stopping_number(energy_mev, mean_excitation_energy_ev(material))
    l_water = bethe_stopping_number(energy_mev, REFERENCE_WATER_I_VALUE_EV)
    return z_over_a(material.mass_fractions, material.name) * l_medium / (WATER_Z_OVER_A * l_water)


def stopping_power_source(material: Material) -> str:
    """Where the material's stopping power comes from, in words (for ``braggdesk info``)."""
    table = mcsquare_stopping_table_name(material.stopping_power_table or "")
    if table is not None:
        return f"MCsquare table {table}"
    return f"Bethe, I = {mean_excitation_energy_ev(material):.1f} eV"
