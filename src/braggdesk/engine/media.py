"""Per-voxel transport properties of the CT, built once per job from the calibration.

Relative stopping power and the nonelastic cross section scale with density for a
fixed composition, so each material is evaluated once at unit density and each
voxel multiplies by its own density.  Dose to water uses the same energy-independent
stopping power ratio: D_w = E / (RSP * V) with water at 1 g/cm3.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..model import CtCalibration, DoseScale, Volume
from .physics.elastic import pp_elastic_macroscopic_per_cm
from .physics.materials import material_physics
from .physics.nuclear import nonelastic_macroscopic_per_cm, recoil_energy_fraction
from .physics.secondaries import material_emission, no_emission

MEV_TO_GY_G = 1.602176634e-10  # 1 MeV per gram in Gy

# Energy grid of the per-material nuclear tables (MeV).
NUCLEAR_E_MIN_MEV, NUCLEAR_E_MAX_MEV = 1.0, 400.0
EMISSION_GRID_POINTS = 128


def emission_grid_mev() -> np.ndarray:
    """The log grid the per-material emission tables are sampled on (the engine's LogGridTable grid)."""
    return np.exp(np.linspace(np.log(NUCLEAR_E_MIN_MEV), np.log(NUCLEAR_E_MAX_MEV), EMISSION_GRID_POINTS))


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
    hu = np.asarray(ct.hu, dtype=np.float32).reshape(-1)
    density = calibration.density(hu).astype(np.float32)
    density = np.maximum(density, 1e-6).astype(np.float32)
    midx = calibration.material_index(hu)
    used = np.unique(midx)
    n_mat = len(calibration.materials)
    mass_rsp = np.zeros(n_mat)
    x0_g_cm2 = np.full(n_mat, np.inf)
    sig_fns: list = [_zero] * n_mat
    pp_fns: list = [_zero] * n_mat
    grid = emission_grid_mev()
    emissions = [no_emission(grid)] * n_mat
    for m in (int(u) for u in used):
        mat = calibration.materials[m]
        phys = material_physics(mat, density_g_cm3=1.0)
        mass_rsp[m] = phys.relative_stopping_power
        x0_g_cm2[m] = phys.radiation_length_g_cm2
        sig_fns[m] = functools.partial(_per_mm_unit_density, nonelastic_macroscopic_per_cm, mat)
        pp_fns[m] = functools.partial(_per_mm_unit_density, pp_elastic_macroscopic_per_cm, mat)
        emissions[m] = material_emission(mat, grid, recoil_energy_fraction(mat, grid))
    rsp = (density * mass_rsp[midx]).astype(np.float32)
    inv_x0 = (density / (10.0 * x0_g_cm2[midx])).astype(np.float32)
    rows = lambda name: np.stack([getattr(e, name) for e in emissions])  # noqa: E731
    return Media(midx.astype(np.int32), density, rsp, inv_x0, sig_fns, pp_fns, rows("proton_multiplicity"),
                 rows("deuteron_multiplicity"), rows("local_energy_fraction"), rows("proton_quantile_fraction"),
                 rows("deuteron_quantile_fraction"), ct.voxel_volume_cm3)
