"""Per-voxel transport properties of the CT, built once per job from the calibration.

Relative stopping power and the nonelastic cross section scale with density for a
fixed composition, so each material is evaluated once at unit density and each
voxel multiplies by its own density.  Dose to water uses the same energy-independent
stopping power ratio: D_w = E / (RSP * V) with water at 1 g/cm3.

Density, material, RSP and radiation length per voxel come from
:func:`braggdesk.physics.calibration.voxel_media` (what ``braggdesk info CALIBRATION`` prints);
``Media.notes`` says when densities were extrapolated beyond the calibration's table.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from ..model import CtCalibration, DoseScale, Volume
from ..physics.calibration import voxel_media
from ..physics.constants import MEV_TO_GY_G
from ..physics.elastic import pp_elastic_macroscopic_per_cm
from ..physics.loggrid import LogGrid
from ..physics.nuclear import nonelastic_macroscopic_per_cm, recoil_energy_fraction
from ..physics.secondaries import material_emission, no_emission

# Energy grid of the per-material nuclear tables (MeV).
NUCLEAR_E_MIN_MEV, NUCLEAR_E_MAX_MEV = 1.0, 400.0
EMISSION_GRID_POINTS = 128


def emission_grid_mev() -> np.ndarray:
    """The log grid the per-material emission tables are sampled on (the engine's LogGridTable grid)."""
    return LogGrid(NUCLEAR_E_MIN_MEV, NUCLEAR_E_MAX_MEV, EMISSION_GRID_POINTS).nodes()


@dataclass
class Media:
    """numpy arrays over the flat CT (C order [k, j, i]) and per material."""

    material_index: np.ndarray  # int32 per voxel
    density_g_cm3: np.ndarray  # float32 per voxel
    rsp: np.ndarray  # float32 relative (linear) stopping power to water per voxel
    inv_x0_per_mm: np.ndarray  # float32 1 / radiation length per voxel
    nonelastic_per_mm_unit_density: list  # per material: callable E -> Sigma/rho [1/mm per g/cm3]
    pp_elastic_per_mm_unit_density: list  # per material: callable E -> Sigma_pp/rho [1/mm per g/cm3]
    proton_multiplicity: np.ndarray  # (materials, emission grid): secondary protons per nonelastic event
    deuteron_multiplicity: np.ndarray  # (materials, emission grid): secondary deuterons per nonelastic event
    local_energy_fraction: np.ndarray  # (materials, emission grid): heavy recoils + alphas
    proton_quantile_fraction: np.ndarray  # (materials, emission grid, q): emission energy / incident energy
    deuteron_quantile_fraction: np.ndarray  # (materials, emission grid, q)
    voxel_volume_cm3: float
    notes: list[str] = field(default_factory=list)  # e.g. densities extrapolated beyond the calibration

    @property
    def n_voxels(self) -> int:
        return int(self.rsp.size)

    def dose_scale(self, plan_protons: float) -> DoseScale:
        v = self.voxel_volume_cm3
        mass = np.maximum(self.density_g_cm3.astype(np.float64) * v, 1e-12)
        water_mass = np.maximum(self.rsp.astype(np.float64) * v, 1e-12)
        return DoseScale(plan_protons, MEV_TO_GY_G / mass, MEV_TO_GY_G / water_mass)


def _zero(energy_mev) -> np.ndarray:
    return np.zeros_like(np.asarray(energy_mev, float))


def _per_mm_unit_density(macroscopic_per_cm, material, energy_mev) -> np.ndarray:
    """A macroscopic cross section [1/cm] of ``material`` at 1 g/cm3, in 1/mm."""
    return 0.1 * macroscopic_per_cm(material, 1.0, np.asarray(energy_mev, float))


def build_media(ct: Volume, calibration: CtCalibration) -> Media:
    voxels = voxel_media(calibration, ct.hu)
    midx = voxels.material_index
    n_mat = len(calibration.materials)
    sig_fns: list = [_zero] * n_mat
    pp_fns: list = [_zero] * n_mat
    grid = emission_grid_mev()
    emissions = [no_emission(grid)] * n_mat
    for m in (int(u) for u in np.unique(midx)):
        mat = calibration.materials[m]
        sig_fns[m] = functools.partial(_per_mm_unit_density, nonelastic_macroscopic_per_cm, mat)
        pp_fns[m] = functools.partial(_per_mm_unit_density, pp_elastic_macroscopic_per_cm, mat)
        emissions[m] = material_emission(mat, grid, recoil_energy_fraction(mat, grid))
    rows = lambda name: np.stack([getattr(e, name) for e in emissions])  # noqa: E731
    return Media(midx, voxels.density_g_cm3, voxels.rsp, voxels.inv_x0_per_mm, sig_fns, pp_fns,
                 rows("proton_multiplicity"), rows("deuteron_multiplicity"), rows("local_energy_fraction"),
                 rows("proton_quantile_fraction"), rows("deuteron_quantile_fraction"), ct.voxel_volume_cm3,
                 list(voxels.notes))
