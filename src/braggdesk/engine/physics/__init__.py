"""Physics tables and per-material constants for the proton transport (pure numpy).

* :mod:`.water` -- water stopping power and CSDA range (ICRU 49 / PSTAR) on log grids, LET,
  Bohr straggling, Highland scattering helpers;
* :mod:`.elements` -- Z, A, I-value and radiation length per element;
* :mod:`.materials` -- electron density, I-value, stopping power ratio and X0 of a material;
* :mod:`.nuclear` -- nonelastic nuclear cross sections (ICRU 63) per element and per material;
* :mod:`.secondaries` -- what a nonelastic event emits (ICRU 63 multiplicities and spectra);
* :mod:`.elastic` -- proton-proton elastic scattering on hydrogen.

The engine builds these once per job and copies the arrays to the device; nothing here
imports io/ or knows about files other than the packaged tables in ``braggdesk.resources``.
"""

from .elements import ELEMENTS, Element, element
from .materials import (REFERENCE_ENERGY_MEV, WATER, MaterialPhysics, material_physics,
                        radiation_length_g_cm2, stopping_power_ratio)
from .elastic import pp_elastic_macroscopic_per_cm, pp_lab_angles
from .nuclear import (NuclearTable, nonelastic_macroscopic_per_cm, nonelastic_mass_cm2_g, nuclear_table,
                      recoil_energy_fraction, surviving_fraction)
from .secondaries import MaterialEmission, icru63_secondaries, material_emission
from .water import (PROTON_MASS_MEV, RangeEnergyTable, beta_squared, bohr_variance_mev2_per_g_cm2, highland_f,
                    highland_theta0_sq, let_kev_um, p_beta_mev, water_table)

__all__ = [
    "ELEMENTS", "Element", "element",
    "REFERENCE_ENERGY_MEV", "WATER", "MaterialPhysics", "material_physics", "radiation_length_g_cm2",
    "stopping_power_ratio",
    "NuclearTable", "nonelastic_macroscopic_per_cm", "nonelastic_mass_cm2_g", "nuclear_table",
    "recoil_energy_fraction", "surviving_fraction",
    "pp_elastic_macroscopic_per_cm", "pp_lab_angles", "MaterialEmission", "icru63_secondaries", "material_emission",
    "PROTON_MASS_MEV", "RangeEnergyTable", "beta_squared", "bohr_variance_mev2_per_g_cm2", "highland_f",
    "highland_theta0_sq", "let_kev_um", "p_beta_mev", "water_table",
]
