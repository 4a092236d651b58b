"""Water stopping power, CSDA range, LET, energy straggling and Highland scattering for protons.

The transport works in water-equivalent terms: every material is water scaled by its relative
stopping power (``materials.py``).  So the one table the engine interpolates on the device is
water's, built here once per process from ``resources/physics/pstar_water.csv``.  Two waters:

* ``"geant4"`` (the default): liquid water with I = 78 eV, ICRU Report 90's value, as Geant4
  computes its stopping power (MCsquare's ``G4_Stop_Pow.dat``, the column the file carries) from
  1 MeV up; below 1 MeV PSTAR's, scaled to meet it.  It is the water of the reference Monte Carlo
  codes beam models are commissioned with (Geant4 and TOPAS, MCsquare): with PSTAR's water a
  model's energies give ranges 0.44-0.48 % shorter than theirs (0.37 / 0.72 / 1.15 mm at 100 / 150 /
  200 MeV), and the relative stopping powers of :mod:`.stopping` are taken against 78 eV water too.
* ``"pstar"``: ICRU Report 49 / NIST PSTAR (I = 75 eV), for comparisons with PSTAR itself.

For either:

* stopping power S(E): the *total* (electronic + nuclear) mass stopping power where the file
  has it (0.5 MeV and up), electronic below 0.5 MeV (nuclear stopping changes the range there
  by well under a micrometre); between tabulated energies S is interpolated log-log, i.e. a power
  law per interval; the electronic stopping power (for LET) is PSTAR's, scaled like the total;
* CSDA range R(E) = R(E_min) + integral_{E_min}^{E} dE'/S(E'), integrated exactly per
  power-law interval, starting from the file's range at the lowest energy (0.1 MeV).  It
  reproduces NIST's CSDA ranges to better than 0.05 % over 1-400 MeV (see the tests);
* everything is resampled onto grids uniform in ln(E) (and, for the inverse, ln(R)):
  :class:`~braggdesk.physics.loggrid.LogTable` objects, so the engine finds a table index with
  one multiply.  With 2048 nodes, linear interpolation in value between nodes is accurate to ~1e-5.

Ratios to water use ICRU 90's water (78 eV), see :mod:`.stopping` for why.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from braggdesk.errors import InputError

from .constants import BETHE_K_MEV_CM2_MOL, ELECTRON_MASS_MEV, HIGHLAND_ES_MEV, PROTON_MASS_MEV
from .kinematics import beta_squared, p_beta_mev
from .loggrid import LogGrid, LogTable
from .packaged import read_packaged_csv
from .stopping import WATER_MASS_FRACTIONS, WATER_Z_OVER_A

__all__ = [
    "PROTON_MASS_MEV", "ELECTRON_MASS_MEV", "BETHE_K_MEV_CM2_MOL", "HIGHLAND_ES_MEV",
    "PSTAR_WATER_I_VALUE_EV", "WATER_MASS_FRACTIONS", "WATER_Z_OVER_A",
    "RangeEnergyTable", "water_table", "build_range_energy_table", "read_pstar_water",
    "let_kev_um", "beta_squared", "p_beta_mev", "bohr_variance_mev2_per_g_cm2",
    "highland_f", "highland_theta0_sq",
]

PSTAR_WATER_I_VALUE_EV = 75.0  # ICRU Report 49: what PSTAR, and so this absolute table, uses for liquid water

_PSTAR_RESOURCE = ("physics", "pstar_water.csv")
_PSTAR_COLUMNS = ("kinetic_energy_MeV", "electronic_stopping_MeV_cm2_g", "total_stopping_MeV_cm2_g",
                  "csda_range_g_cm2_derived", "geant4_total_stopping_MeV_cm2_g_mcsquare")
WATER_MODELS = ("geant4", "pstar")
DEFAULT_WATER = "geant4"
_GEANT4_FROM_MEV = 1.0  # below this Geant4 switches models (0.5 MeV sits 0.9 % off); PSTAR's shape is kept
_N_GRID = 2048
_HIGHLAND_T_MIN = 1e-4


@dataclass(frozen=True, eq=False)
class RangeEnergyTable:
    """Water range-energy tables, each a :class:`LogTable`, ready for index-arithmetic lookup.

    On one energy grid (0.1-400 MeV): ``stopping_power_mev_cm2_g`` (total),
    ``electronic_stopping_mev_cm2_g`` (for LET) and ``csda_range_g_cm2``; on a range grid (the
    ranges of 0.1 and 400 MeV): ``energy_at_range_mev``, the inverse.

    The methods interpolate linearly in value between nodes, exactly as the engine does on the
    device.  Outside the grid: below the lowest energy (0.1 MeV) the range goes linearly to zero,
    R = R_min * E / E_min (and its inverse), and stopping powers hold their first value; above
    the highest energy (400 MeV) range and energy extrapolate along the last interval and
    stopping powers hold their last value.
    """

    stopping_power_mev_cm2_g: LogTable
    electronic_stopping_mev_cm2_g: LogTable
    csda_range_g_cm2: LogTable
    energy_at_range_mev: LogTable

    @property
    def energy_grid(self) -> LogGrid:
        return self.csda_range_g_cm2.grid

    @property
    def range_grid(self) -> LogGrid:
        return self.energy_at_range_mev.grid

    @property
    def energy_min_mev(self) -> float:
        return self.energy_grid.x_min

    @property
    def energy_max_mev(self) -> float:
        return self.energy_grid.x_max

    def range_g_cm2(self, energy_mev: np.ndarray | float) -> np.ndarray:
        """CSDA range in water [g/cm^2] at kinetic energy ``energy_mev``."""
        e = np.asarray(energy_mev, dtype=float)
        r = self.csda_range_g_cm2.lookup(e, extrapolate=True)
        r_min = self.csda_range_g_cm2.values[0]
        return np.where(e < self.energy_min_mev, r_min * np.maximum(e, 0.0) / self.energy_min_mev, r)

    def energy_mev(self, range_g_cm2: np.ndarray | float) -> np.ndarray:
        """Kinetic energy [MeV] of a proton with CSDA range ``range_g_cm2`` in water (inverse of range)."""
        r = np.asarray(range_g_cm2, dtype=float)
        e = self.energy_at_range_mev.lookup(r, extrapolate=True)
        r_min = self.range_grid.x_min
        return np.where(r < r_min, self.energy_at_range_mev.values[0] * np.maximum(r, 0.0) / r_min, e)

    def stopping_power(self, energy_mev: np.ndarray | float) -> np.ndarray:
        """Total mass stopping power of water [MeV cm^2/g]."""
        return self.stopping_power_mev_cm2_g.lookup(energy_mev)

    def electronic_stopping_power(self, energy_mev: np.ndarray | float) -> np.ndarray:
        """Electronic mass stopping power of water [MeV cm^2/g] (what LET is made of)."""
        return self.electronic_stopping_mev_cm2_g.lookup(energy_mev)


def read_pstar_water() -> dict[str, np.ndarray]:
    """The columns of ``resources/physics/pstar_water.csv`` as float arrays (empty cells -> NaN)."""
    path, rows = read_packaged_csv(_PSTAR_RESOURCE, "water stopping-power table")
    if not rows or any(c not in rows[0] for c in _PSTAR_COLUMNS):
        raise InputError(path, f"expected CSV columns {', '.join(_PSTAR_COLUMNS)}, found {list(rows[0]) if rows else 'no rows'}")
    out: dict[str, np.ndarray] = {}
    for col in _PSTAR_COLUMNS:
        try:
            out[col] = np.array([float(r[col]) if r[col].strip() else np.nan for r in rows])
        except ValueError as exc:
            raise InputError(path, f"column {col} holds a value that is not a number ({exc})") from exc
    e = out["kinetic_energy_MeV"]
    if np.any(~np.isfinite(e)) or np.any(np.diff(e) <= 0) or np.any(~np.isfinite(out["electronic_stopping_MeV_cm2_g"])):
        raise InputError(path, "energies must be finite and increasing, with an electronic stopping power on every row")
    return out


class _PowerLawIntegral:
    """S(E) log-log interpolated between tabulated nodes, and R(E) = R0 + int dE/S exactly."""

    def __init__(self, e: np.ndarray, s: np.ndarray, r0: float):
        self.e, self.s = e, s
        self.a = np.diff(np.log(s)) / np.diff(np.log(e))  # S = s_i (E/e_i)^a_i on [e_i, e_i+1]
        seg = self._segment_integral(np.arange(len(e) - 1), e[1:])
        self.r_nodes = r0 + np.concatenate([[0.0], np.cumsum(seg)])

    def _segment_integral(self, i: np.ndarray, x: np.ndarray) -> np.ndarray:
        """int_{e_i}^{x} dE / S for x inside segment i."""
        e_i, s_i, a = self.e[i], self.s[i], self.a[i]
        b = 1.0 - a
        ratio = x / e_i
        near_one = np.abs(b) < 1e-9
        safe_b = np.where(near_one, 1.0, b)
        power = (ratio ** safe_b - 1.0) / safe_b
        return e_i / s_i * np.where(near_one, np.log(ratio), power)

    def _index(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(self.e, x, side="right") - 1, 0, len(self.e) - 2)

    def stopping(self, x: np.ndarray) -> np.ndarray:
        i = self._index(x)
        return self.s[i] * (x / self.e[i]) ** self.a[i]

    def range(self, x: np.ndarray) -> np.ndarray:
        i = self._index(x)
        return self.r_nodes[i] + self._segment_integral(i, x)


def water_stopping_columns(data: dict[str, np.ndarray], model: str = DEFAULT_WATER) -> tuple[np.ndarray, np.ndarray]:
    """(total, electronic) mass stopping power of ``model`` water at the file's energies."""
    if model not in WATER_MODELS:
        raise ValueError(f"water model {model!r}: expected one of {', '.join(WATER_MODELS)}")
    e = data["kinetic_energy_MeV"]
    s_el = data["electronic_stopping_MeV_cm2_g"]
    s_tot = np.where(np.isfinite(data["total_stopping_MeV_cm2_g"]), data["total_stopping_MeV_cm2_g"], s_el)
    if model == "pstar":
        return s_tot, s_el
    g4 = data["geant4_total_stopping_MeV_cm2_g_mcsquare"]
    use = np.isfinite(g4) & (e >= _GEANT4_FROM_MEV)
    ratio = np.where(use, g4 / s_tot, np.nan)
    first = int(np.argmax(use))
    ratio[:first] = ratio[first]  # PSTAR's shape below, joined continuously
    ratio = np.interp(e, e[np.isfinite(ratio)], ratio[np.isfinite(ratio)])  # rows without a Geant4 value
    return s_tot * ratio, s_el * ratio


def build_range_energy_table(pstar: dict[str, np.ndarray], n_grid: int = _N_GRID,
                             model: str = DEFAULT_WATER) -> RangeEnergyTable:
    """Build the log-grid tables from the file's columns (see the module docstring for the method)."""
    e = pstar["kinetic_energy_MeV"]
    s_tot, s_el = water_stopping_columns(pstar, model)
    r0 = float(pstar["csda_range_g_cm2_derived"][0])
    total = _PowerLawIntegral(e, s_tot, r0)
    electronic = _PowerLawIntegral(e, s_el, r0)

    energy_grid = LogGrid(float(e[0]), float(e[-1]), n_grid)
    grid_e = energy_grid.nodes()
    r_grid = total.range(grid_e)

    # inverse: interpolate ln E against ln R on a 16x finer energy grid (error ~1e-8)
    fine_e = LogGrid(float(e[0]), float(e[-1]), 16 * n_grid).nodes()
    fine_log_r = np.log(total.range(fine_e))
    range_grid = LogGrid(float(r_grid[0]), float(r_grid[-1]), n_grid)
    e_at_r = np.exp(np.interp(np.log(range_grid.nodes()), fine_log_r, np.log(fine_e)))
    e_at_r[0], e_at_r[-1] = e[0], e[-1]

    return RangeEnergyTable(
        stopping_power_mev_cm2_g=LogTable(energy_grid, total.stopping(grid_e)),
        electronic_stopping_mev_cm2_g=LogTable(energy_grid, electronic.stopping(grid_e)),
        csda_range_g_cm2=LogTable(energy_grid, r_grid),
        energy_at_range_mev=LogTable(range_grid, e_at_r),
    )


@functools.lru_cache(maxsize=2)
def water_table(model: str = DEFAULT_WATER) -> RangeEnergyTable:
    """The water range-energy table (built once per process and model; read-only): Geant4's 78 eV
    water by default, ``"pstar"`` for ICRU 49's."""
    return build_range_energy_table(read_pstar_water(), model=model)


def let_kev_um(energy_mev: np.ndarray | float) -> np.ndarray:
    """Unrestricted LET in water [keV/um] = electronic stopping power [MeV cm^2/g] * 0.1 (density 1)."""
    return 0.1 * water_table().electronic_stopping_power(energy_mev)


def bohr_variance_mev2_per_g_cm2(energy_mev: np.ndarray | float, z_over_a: float | np.ndarray) -> np.ndarray:
    """Energy-loss straggling variance per unit mass thickness [MeV^2 cm^2/g] (Bohr, relativistic).

    d(sigma_E^2)/d(rho x) = K m_e c^2 (Z/A) (1 - beta^2/2) / (1 - beta^2),
    K = 4 pi N_A r_e^2 m_e c^2 = 0.307075 MeV cm^2/mol, m_e c^2 = 0.51099895 MeV.

    This is Bohr's variance 4 pi N_A r_e^2 (m_e c^2)^2 (Z/A) times the relativistic factor that
    follows from the second moment of the free-electron energy-transfer spectrum up to
    T_max ~ 2 m_e c^2 beta^2 gamma^2: sigma^2 = xi T_max (1 - beta^2/2) with xi = K/2 (Z/A)
    x / beta^2 (PDG Review, "Passage of particles through matter", energy-loss fluctuations;
    the same Gaussian limit is used by Fippel & Soukup, Med. Phys. 31 (2004) 2263, and
    discussed by Gottschalk's "Techniques of proton radiotherapy: transport theory").
    Water (Z/A = 0.5551) at 100 MeV: 0.0969 MeV^2 per g/cm^2.
    """
    b2 = beta_squared(energy_mev)
    return BETHE_K_MEV_CM2_MOL * ELECTRON_MASS_MEV * np.asarray(z_over_a, dtype=float) * (1.0 - 0.5 * b2) / (1.0 - b2)


def highland_f(t: np.ndarray | float) -> np.ndarray:
    """Highland's path function F(t) = t (1 + 0.038 ln t)^2, t = path length in radiation lengths.

    For constant p*v the Highland variance after a path t is theta0^2 = (13.6 MeV / pv)^2 F(t),
    so the engine adds d(theta^2) = (13.6/pv)^2 [F(t + dt) - F(t)] per step, with t the path
    accumulated so far (a standard way to use Highland's formula in condensed-history codes
    without making the variance depend on the step size).  F has a minimum near t = 4e-13
    where the log term changes sign; to keep F non-decreasing and F(0) = 0, the logarithm is
    frozen at t_min = 1e-4 below t_min (F is linear there: F(t) = t (1 + 0.038 ln t_min)^2).
    1e-4 X0 is 36 um of water, so this only touches the first micro-steps.
    """
    t = np.maximum(np.asarray(t, dtype=float), 0.0)
    log_term = 1.0 + 0.038 * np.log(np.maximum(t, _HIGHLAND_T_MIN))
    return t * log_term * log_term


def highland_theta0_sq(p_beta_mev_value: np.ndarray | float, path_radiation_lengths: np.ndarray | float) -> np.ndarray:
    """Highland's projected-angle variance [rad^2] for constant p*v [MeV] after ``t`` radiation lengths."""
    pv = np.asarray(p_beta_mev_value, dtype=float)
    return (HIGHLAND_ES_MEV / pv) ** 2 * highland_f(path_radiation_lengths)
