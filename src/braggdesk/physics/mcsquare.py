"""MCsquare's material database as MCsquare itself uses it: compositions, labels, X0, stopping powers.

Why MCsquare's own stopping powers and not Bethe's formula from the composition: MCsquare reads
``Materials/<name>/G4_Stop_Pow.dat`` (Geant4-computed) for every material, and its relative
stopping power is that table over ``Materials/Water`` at 100 MeV.  Those tables are not what the
composition gives with ICRU's I-values: Geant4 builds a mixture's I-value by Bragg additivity from
the *elemental* I-values (oxygen 95 eV, the gas), so MCsquare's Schneider tissues have I = 66-69 eV,
and its water is Geant4's G4_WATER (I = 78 eV).  Bethe's formula with those I-values reproduces
MCsquare's tissue ratios within 0.3 % (``tests/physics/test_stopping.py``); with ICRU 37's values
for atoms in condensed compounds (oxygen 106 eV) the same tissues come out 0.7-1.5 % lower against
75 eV water, 0.2-1.0 % lower against 78 eV water.
A user who asks for an MCsquare scanner wants MCsquare's ranges, so a material of this database
carries ``stopping_power_table = "mcsquare:<name>"`` and its RSP is MCsquare's ratio.

Data (``resources/``, Apache-2.0, UCLouvain; Souris et al., Med. Phys. 43 (2016) 1700):

* ``materials/mcsquare_materials.csv`` -- the 82 materials of ``Materials/list.dat``: label,
  density, electron density, radiation length, mass-% composition;
* ``physics/mcsquare_g4_stopping_power.csv`` -- each material's ``G4_Stop_Pow.dat`` at 135 of its
  801 energies (re-tabulated by ``tools/tabulate_mcsquare_stopping_powers.py``).  Between rows the
  ratio to MCsquare's water is interpolated linearly in ln(E), within 0.16 % of the full tables for
  compounds (0.43 % for the elements, whose Geant4 tables have small steps); at 100 MeV, the row
  MCsquare takes its ratio from, it is exact.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from braggdesk.errors import InputError
from braggdesk.model import Material

from .elements import ELEMENTS, normalise_mass_fractions
from .packaged import read_csv_rows, resource_path

__all__ = [
    "MCSQUARE_TABLE_PREFIX", "McsquareMaterial", "mcsquare_label_names", "mcsquare_mass_stopping_ratio",
    "mcsquare_materials", "mcsquare_stopping_table_name",
]

MCSQUARE_TABLE_PREFIX = "mcsquare:"
_MATERIALS = "materials/mcsquare_materials.csv"
_STOPPING = "physics/mcsquare_g4_stopping_power.csv"
_WATER = "Water"


@dataclass(frozen=True)
class McsquareMaterial:
    """One material of MCsquare's database with the numbers MCsquare's own files give."""

    label: int
    material: Material  # composition, density and stopping_power_table = "mcsquare:<name>"
    electron_density_per_cm3: float
    radiation_length_g_cm2: float


def mcsquare_stopping_table_name(name: str) -> str | None:
    """The material name in a ``stopping_power_table`` value ``"mcsquare:<name>"``, else None."""
    if name and name.startswith(MCSQUARE_TABLE_PREFIX):
        return name[len(MCSQUARE_TABLE_PREFIX):]
    return None


@functools.lru_cache(maxsize=1)
def mcsquare_materials() -> dict[str, McsquareMaterial]:
    """MCsquare's 82 materials by name (MCsquare's spelling), read once."""
    path = resource_path(_MATERIALS)
    by_name = {e.name: e.symbol for e in ELEMENTS.values()}
    out: dict[str, McsquareMaterial] = {}
    for line_no, row in read_csv_rows(path, "MCsquare's material table"):
        name = row.get("name", "").strip()
        try:
            fractions = {by_name[k.removeprefix("mass_pct_")]: float(v) / 100.0
                         for k, v in row.items() if k.startswith("mass_pct_") and v.strip()}
            if not fractions:  # MCsquare's pure elements list no composition
                if name not in by_name:
                    raise ValueError(f"material {name!r} has no composition")
                fractions = {by_name[name]: 1.0}
            material = Material(name, float(row["density_g_cm3"]), normalise_mass_fractions(fractions, name),
                                stopping_power_table=MCSQUARE_TABLE_PREFIX + name)
            out[name] = McsquareMaterial(int(row["mcsquare_label"]), material, float(row["electron_density_per_cm3"]),
                                         float(row["radiation_length_g_cm2"]))
        except (KeyError, ValueError, InputError) as exc:
            raise InputError(path, f"line {line_no}: {exc}") from exc
    return out


@functools.lru_cache(maxsize=1)
def mcsquare_label_names() -> dict[int, str]:
    """MCsquare's label number -> material name (``Materials/list.dat``)."""
    return {m.label: name for name, m in mcsquare_materials().items()}


@functools.lru_cache(maxsize=1)
def _stopping_tables() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (ln E, ratio of the mass stopping power to MCsquare's water), rows where both exist."""
    path = resource_path(_STOPPING)
    rows = read_csv_rows(path, "MCsquare's stopping-power table")
    if not rows or "kinetic_energy_MeV" not in rows[0][1] or _WATER not in rows[0][1]:
        raise InputError(path, "expected columns kinetic_energy_MeV, Water and one per MCsquare material")
    names = [k for k in rows[0][1] if k != "kinetic_energy_MeV"]
    try:
        energy = np.array([float(r["kinetic_energy_MeV"]) for _, r in rows])
        columns = {n: np.array([float(r[n]) if r[n].strip() else np.nan for _, r in rows]) for n in names}
    except ValueError as exc:
        raise InputError(path, f"a stopping power is not a number ({exc})") from exc
    if np.any(np.diff(energy) <= 0) or np.any(~np.isfinite(columns[_WATER])):
        raise InputError(path, "energies must increase, with a water stopping power on every row")
    out = {}
    for name, s in columns.items():
        have = np.isfinite(s) & (s > 0)
        out[name] = (np.log(energy[have]), s[have] / columns[_WATER][have])
    return out


def mcsquare_mass_stopping_ratio(name: str, energy_mev: np.ndarray | float) -> np.ndarray:
    """MCsquare's mass stopping power of ``name`` over that of its water at ``energy_mev``.

    Linear in ln(E) between tabulated energies; the end values are held outside them.
    """
    tables = _stopping_tables()
    if name not in tables:
        raise InputError(resource_path(_STOPPING), f"MCsquare has no stopping-power table for material {name!r}")
    log_e, ratio = tables[name]
    e = np.maximum(np.asarray(energy_mev, dtype=float), 1e-12)
    return np.interp(np.log(e), log_e, ratio)
