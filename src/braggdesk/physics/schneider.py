"""Schneider et al. (2000) HU -> density and HU -> composition, as tabulated by TOPAS.

Data: ``resources/physics/schneider_topas_hu_to_density.csv`` (7 linear sections,
-1000..2995 HU) and ``schneider_topas_hu_to_composition.csv`` (25 HU sections with the mass
fractions of H C N O Mg P S Cl Ar Ca Na K Ti), copied from TOPAS
``examples/Patient/HUtoMaterialSchneider.txt``.  Physics source: W. Schneider, T. Bortfeld,
W. Schlegel, Phys. Med. Biol. 45 (2000) 459.  TOPAS's per-HU ``DensityCorrection`` is not
part of Schneider 2000 and is not applied.

The nominal density of each section's material is the density law at the section's middle HU.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from braggdesk.errors import InputError
from braggdesk.model import Material

from .elements import normalise_mass_fractions
from .packaged import read_csv_rows, resource_path

__all__ = ["schneider_density", "schneider_density_sections", "schneider_materials"]

_ELEMENT_COLUMNS = {
    "w_Hydrogen": "H", "w_Carbon": "C", "w_Nitrogen": "N", "w_Oxygen": "O", "w_Magnesium": "Mg",
    "w_Phosphorus": "P", "w_Sulfur": "S", "w_Chlorine": "Cl", "w_Argon": "Ar", "w_Calcium": "Ca",
    "w_Sodium": "Na", "w_Potassium": "K", "w_Titanium": "Ti",
}
# Names of the 25 TOPAS/Schneider sections, after MCsquare's names for the same HU intervals
# (Schneider_Air, _Lung, _AT_AG_SI1-5 = mixtures of adipose tissue, adrenal gland and small
# intestine, _SoftTissus, _ConnectiveTissue, _Marrow_Bone01-15) plus TOPAS's titanium.
# Prefixed "Schneider2000_Snn_" so that they never shadow MCsquare's ``Schneider_*`` materials,
# whose compositions keep only some of the elements.
_SECTION_NAMES = (
    ["Air", "Lung"] + [f"AT_AG_SI{i}" for i in range(1, 6)] + ["SoftTissue", "ConnectiveTissue"]
    + [f"MarrowBone{i:02d}" for i in range(1, 16)]
    + ["Titanium"]
)


@lru_cache(maxsize=1)
def schneider_density_sections() -> tuple[tuple[float, float, float, float, float], ...]:
    """The 7 HU -> density sections: (hu_min, hu_max, offset, factor, factor_offset_hu).

    In [hu_min, hu_max) the density is ``offset + factor * (factor_offset_hu + HU)`` g/cm3
    (TOPAS's ``HUtoMaterialSchneider.txt`` form of Schneider et al. 2000, without TOPAS's
    DensityCorrection factor).
    """
    path = resource_path("physics/schneider_topas_hu_to_density.csv")
    sections = []
    for line_no, row in read_csv_rows(path, "the Schneider density table"):
        try:
            sections.append(tuple(float(row[k]) for k in (
                "hu_min_inclusive", "hu_max_exclusive", "density_offset_g_cm3", "density_factor",
                "density_factor_offset_hu")))
        except (KeyError, ValueError) as exc:
            raise InputError(path, f"line {line_no}: {exc}") from exc
    return tuple(sections)


def schneider_density(hu: np.ndarray | float) -> np.ndarray:
    """Schneider mass density in g/cm3 at HU (section formula; clamped below the first and
    above the last section, as TOPAS clamps HU to its table)."""
    sections = schneider_density_sections()
    hu_arr = np.clip(np.asarray(hu, dtype=float), sections[0][0], sections[-1][1] - 1)
    bounds = np.array([s[0] for s in sections])
    idx = np.clip(np.searchsorted(bounds, hu_arr, side="right") - 1, 0, len(sections) - 1)
    table = np.array([s[2:] for s in sections])
    offset, factor, factor_offset = table[idx, 0], table[idx, 1], table[idx, 2]
    return offset + factor * (factor_offset + hu_arr)


@lru_cache(maxsize=1)
def schneider_materials() -> list[tuple[float, float, Material]]:
    """The 25 HU sections of Schneider et al. 2000 (TOPAS table): (hu_min, hu_max, material).

    Each material carries its section's composition (elements H C N O Mg P S Cl Ar Ca Na K Ti)
    and, as nominal density, the Schneider density at the section's middle HU.  Names are
    ``Schneider2000_S01_Air`` ... ``Schneider2000_S25_Titanium``.
    """
    path = resource_path("physics/schneider_topas_hu_to_composition.csv")
    sections = []
    for line_no, row in read_csv_rows(path, "the Schneider composition table"):
        try:
            number = int(row["section"])
            hu_min, hu_max = float(row["hu_min_inclusive"]), float(row["hu_max_exclusive"])
            label = _SECTION_NAMES[number - 1]
            name = f"Schneider2000_S{number:02d}_{label}"
            fractions = normalise_mass_fractions({s: float(row[c]) for c, s in _ELEMENT_COLUMNS.items()}, name)
            density = float(schneider_density(0.5 * (hu_min + hu_max)))
            material = Material(name, round(density, 6), fractions)
        except (KeyError, ValueError, IndexError, InputError) as exc:
            raise InputError(path, f"line {line_no}: {exc}") from exc
        sections.append((hu_min, hu_max, material))
    if len(sections) != 25:
        raise InputError(path, f"found {len(sections)} HU sections, expected 25")
    return sections
