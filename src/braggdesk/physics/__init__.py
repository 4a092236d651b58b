"""braggdesk's physics data: one package below io/ and engine/ (pure numpy, no I/O but its own tables).

io/ reads it to check and resolve what files name (elements, materials); the engine packs it into
its tables.  Every table is a file in ``braggdesk.resources`` with its source and licence.

* :mod:`.elements` -- the one element table (Z, atomic weight, I-values, X0), compositions -> numbers;
* :mod:`.library` -- materials by name (MCsquare's database and ours);
* :mod:`.mcsquare` -- MCsquare's materials with MCsquare's own stopping powers and radiation lengths;
* :mod:`.stopping` -- mass stopping-power ratio to water (Bethe with ICRU I-values, or MCsquare's table);
* :mod:`.material_constants` -- per-material constants (:func:`material_physics`; :func:`material_constants` for a kernel);
* :mod:`.calibration` -- what a HU becomes: density (extrapolated beyond the table), material, RSP, X0;
* :mod:`.schneider` -- Schneider et al. 2000 HU -> density and composition (TOPAS tabulation);
* :mod:`.water` -- water stopping power and CSDA range (ICRU 49 / PSTAR), LET, straggling, Highland;
* :mod:`.nuclear`, :mod:`.secondaries`, :mod:`.elastic` -- ICRU 63 nonelastic cross sections and
  secondaries, proton-proton elastic scattering;
* :mod:`.loggrid` -- :class:`LogGrid` / :class:`LogTable`, the one interpolator type;
* :mod:`.constants`, :mod:`.kinematics`, :mod:`.packaged` -- constants, proton kinematics, resource files.
"""

from .calibration import CalibrationPoint, VoxelMedia, calibration_points, extrapolation_notes, voxel_media
from .elastic import pp_elastic_macroscopic_per_cm, pp_lab_angles
from .elements import ELEMENTS, Element, element, normalise_mass_fractions, z_over_a
from .library import UnknownMaterialError, get_material, load_material_library, material_by_mcsquare_label
from .loggrid import LogGrid, LogTable
from .material_constants import (REFERENCE_ENERGY_MEV, WATER, MaterialConstants, MaterialPhysics, material_constants,
                        material_physics, radiation_length_g_cm2, stopping_power_ratio)
from .nuclear import (NuclearTable, nonelastic_macroscopic_per_cm, nonelastic_mass_cm2_g, nuclear_table,
                      recoil_energy_fraction, surviving_fraction)
from .secondaries import MaterialEmission, icru63_secondaries, material_emission
from .stopping import REFERENCE_WATER_I_VALUE_EV, mass_stopping_power_ratio, mean_excitation_energy_ev
from .water import (PROTON_MASS_MEV, RangeEnergyTable, beta_squared, bohr_variance_mev2_per_g_cm2, highland_f,
                    highland_theta0_sq, let_kev_um, p_beta_mev, water_table)

__all__ = [
    "CalibrationPoint", "VoxelMedia", "calibration_points", "extrapolation_notes", "voxel_media",
    "ELEMENTS", "Element", "element", "normalise_mass_fractions", "z_over_a",
    "UnknownMaterialError", "get_material", "load_material_library", "material_by_mcsquare_label",
    "LogGrid", "LogTable",
    "REFERENCE_ENERGY_MEV", "WATER", "MaterialConstants", "MaterialPhysics", "material_constants", "material_physics",
    "radiation_length_g_cm2", "stopping_power_ratio",
    "NuclearTable", "nonelastic_macroscopic_per_cm", "nonelastic_mass_cm2_g", "nuclear_table",
    "recoil_energy_fraction", "surviving_fraction",
    "pp_elastic_macroscopic_per_cm", "pp_lab_angles", "MaterialEmission", "icru63_secondaries", "material_emission",
    "REFERENCE_WATER_I_VALUE_EV", "mass_stopping_power_ratio", "mean_excitation_energy_ev",
    "PROTON_MASS_MEV", "RangeEnergyTable", "beta_squared", "bohr_variance_mev2_per_g_cm2", "highland_f",
    "highland_theta0_sq", "let_kev_um", "p_beta_mev", "water_table",
]
