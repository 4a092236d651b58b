"""The material library: every material braggdesk knows by name, and the Schneider tissues.

Why one library: CT calibrations, range shifters and phantoms all name materials ("Water",
"Lexan", "Schneider_Lung", "Solid_Water_HE"); resolving those names in one place means a
typo is caught when a file is read, with close names offered, rather than deep in transport.

Two tables in ``resources/materials/`` are merged (ours win on a name clash):

* ``mcsquare_materials.csv`` -- MCsquare's 82 materials (UCLouvain, Apache-2.0): elements,
  ICRU tissues, the 24 ``Schneider_*`` tissues and phantom plastics, compositions in mass
  percent (columns ``mass_pct_<element>``), and MCsquare's label numbers (``mcsquare_label``),
  which MCsquare scanner and BDL files use to name materials.
* ``braggdesk_materials.csv`` -- materials we define (Solid_Water_HE, PMMA, Air), columns
  ``name, density_g_cm3, i_value_ev, composition, reference``; ``composition`` is written
  ``H:0.08 C:0.673 ...`` (symbol, colon, mass fraction, space separated).

Compositions are renormalised to sum to exactly 1 (the tables are rounded to 4-6 digits).

:func:`schneider_materials` gives the 25 HU sections of Schneider et al. (2000) as tabulated
by TOPAS (``resources/physics/schneider_topas_hu_to_composition.csv``); the piecewise-linear
HU -> density law of the same paper (``schneider_topas_hu_to_density.csv``) is here as well,
because the nominal density of each section's material is that law at the section's middle HU.
"""

from __future__ import annotations

import csv
import difflib
import math
import re
from functools import lru_cache
from importlib import resources as _importlib_resources
from pathlib import Path

import numpy as np

from braggdesk.errors import BraggdeskError, InputError
from braggdesk.model.material import Material

from .text_files import read_text_lines

__all__ = [
    "ELEMENTS",
    "UnknownMaterialError",
    "format_mass_fractions",
    "get_material",
    "load_material_library",
    "material_by_mcsquare_label",
    "mcsquare_label_of",
    "parse_mass_fractions",
    "relative_electron_density",
    "resource_path",
    "schneider_density",
    "schneider_density_sections",
    "schneider_materials",
]

# Atomic number and standard atomic weight (g/mol, IUPAC 2013 abridged) of the elements that
# tissue, phantom and nozzle materials contain.  Used to check symbols and for electron density.
ELEMENTS: dict[str, tuple[int, float]] = {
    "H": (1, 1.008), "He": (2, 4.0026), "Li": (3, 6.94), "Be": (4, 9.0122), "B": (5, 10.81),
    "C": (6, 12.011), "N": (7, 14.007), "O": (8, 15.999), "F": (9, 18.998), "Ne": (10, 20.180),
    "Na": (11, 22.990), "Mg": (12, 24.305), "Al": (13, 26.982), "Si": (14, 28.085), "P": (15, 30.974),
    "S": (16, 32.06), "Cl": (17, 35.45), "Ar": (18, 39.948), "K": (19, 39.098), "Ca": (20, 40.078),
    "Sc": (21, 44.956), "Ti": (22, 47.867), "V": (23, 50.942), "Cr": (24, 51.996), "Mn": (25, 54.938),
    "Fe": (26, 55.845), "Co": (27, 58.933), "Ni": (28, 58.693), "Cu": (29, 63.546), "Zn": (30, 65.38),
    "Br": (35, 79.904), "Zr": (40, 91.224), "Mo": (42, 95.95), "Ag": (47, 107.87), "Sn": (50, 118.71),
    "I": (53, 126.90), "Ba": (56, 137.33), "Gd": (64, 157.25), "Ta": (73, 180.95), "W": (74, 183.84),
    "Pt": (78, 195.08), "Au": (79, 196.97), "Pb": (82, 207.2), "Bi": (83, 208.98),
}

_MCSQUARE_ELEMENT_COLUMNS = {
    "hydrogen": "H", "carbon": "C", "nitrogen": "N", "oxygen": "O", "aluminium": "Al", "silicon": "Si",
    "phosphorus": "P", "calcium": "Ca", "iron": "Fe", "copper": "Cu", "tungsten": "W", "lead": "Pb",
    "titanium": "Ti",
}
# MCsquare's pure-element materials (nuclear_data "ICRU" / "proton-proton") list no composition.
_MCSQUARE_PURE_ELEMENTS = dict(_MCSQUARE_ELEMENT_COLUMNS, tantalum="Ta")

_SCHNEIDER_ELEMENT_COLUMNS = {
    "w_Hydrogen": "H", "w_Carbon": "C", "w_Nitrogen": "N", "w_Oxygen": "O", "w_Magnesium": "Mg",
    "w_Phosphorus": "P", "w_Sulfur": "S", "w_Chlorine": "Cl", "w_Argon": "Ar", "w_Calcium": "Ca",
    "w_Sodium": "Na", "w_Potassium": "K", "w_Titanium": "Ti",
}
# Names of the 25 TOPAS/Schneider sections, after MCsquare's names for the same HU intervals
# (Schneider_Air, _Lung, _AT_AG_SI1-5 = mixtures of adipose tissue, adrenal gland and small
# intestine, _SoftTissus, _ConnectiveTissue, _Marrow_Bone01-15) plus TOPAS's titanium.
# Prefixed "Schneider2000_Snn_" so that they never shadow MCsquare's ``Schneider_*`` materials,
# whose compositions keep only some of the elements.
_SCHNEIDER_SECTION_NAMES = (
    ["Air", "Lung"] + [f"AT_AG_SI{i}" for i in range(1, 6)] + ["SoftTissue", "ConnectiveTissue"]
    + [f"MarrowBone{i:02d}" for i in range(1, 16)]
    + ["Titanium"]
)

_SUM_TOLERANCE = 0.02  # the same bound as Material.__post_init__


class UnknownMaterialError(KeyError, BraggdeskError):
    """A material name the library does not know; the message lists close names."""

    def __init__(self, name: str, suggestions: list[str]):
        self.name = name
        self.suggestions = suggestions
        hint = f"; close names: {', '.join(suggestions)}" if suggestions else ""
        super().__init__(f"unknown material '{name}'{hint} (see resources/materials/ for the list)")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def resource_path(relative: str) -> Path:
    """Path of a file shipped in ``braggdesk/resources/`` (``relative`` uses forward slashes)."""
    return Path(str(_importlib_resources.files("braggdesk.resources"))).joinpath(*relative.split("/"))


# ---------------------------------------------------------------------------------------------
# Composition text: "H:0.111894 O:0.888106"


def parse_mass_fractions(text: str) -> dict[str, float]:
    """Parse ``"H:0.11 O:0.89"`` (``:`` or ``=``; spaces, ``;`` or ``|`` between entries).

    Fractions are renormalised to sum to 1 when the sum is off by rounding (more than 1e-9);
    raises ValueError for unknown element symbols, non-numbers, negative or repeated entries,
    or a sum outside 1 +- 0.02.
    """
    fractions: dict[str, float] = {}
    for item in re.split(r"[\s;|]+", text.strip()):
        if not item:
            continue
        symbol, sep, value = item.replace("=", ":").partition(":")
        if not sep:
            raise ValueError(f"composition entry '{item}' is not 'Symbol:fraction'")
        if symbol not in ELEMENTS:
            raise ValueError(f"'{symbol}' in composition is not an element symbol")
        if symbol in fractions:
            raise ValueError(f"element {symbol} appears twice in the composition")
        try:
            fraction = float(value)
        except ValueError:
            raise ValueError(f"mass fraction '{value}' of {symbol} is not a number") from None
        if not math.isfinite(fraction) or fraction < 0:
            raise ValueError(f"mass fraction {value} of {symbol} must be a finite number >= 0")
        if fraction > 0:
            fractions[symbol] = fraction
    return _normalised(fractions)


def format_mass_fractions(mass_fractions: dict[str, float]) -> str:
    """The inverse of :func:`parse_mass_fractions`; floats written exactly (``repr``)."""
    return " ".join(f"{symbol}:{float(fraction)!r}" for symbol, fraction in mass_fractions.items())


def _normalised(fractions: dict[str, float]) -> dict[str, float]:
    total = sum(fractions.values())
    if not fractions or abs(total - 1.0) > _SUM_TOLERANCE:
        raise ValueError(f"mass fractions sum to {total:.6g}, expected 1")
    if abs(total - 1.0) > 1e-9:
        fractions = {symbol: value / total for symbol, value in fractions.items()}
    return fractions


def relative_electron_density(material: Material, density_g_cm3: float | None = None) -> float:
    """Electron density relative to water (1.0 g/cm3), at the material's nominal density or the given one.

    Used where only a water-equivalent thickness is known and a physical thickness is wanted:
    the relative stopping power of a plastic is close to its relative electron density (the
    logarithmic term of Bethe's formula differs by 1-3 % between water and PMMA/Lexan).
    """
    rho = material.density_g_cm3 if density_g_cm3 is None else density_g_cm3
    return rho * _z_over_a(material.mass_fractions) / _z_over_a(_WATER_FRACTIONS)


def _z_over_a(mass_fractions: dict[str, float]) -> float:
    return sum(w * ELEMENTS[s][0] / ELEMENTS[s][1] for s, w in mass_fractions.items())


_WATER_FRACTIONS = {"H": 0.111894, "O": 0.888106}


# ---------------------------------------------------------------------------------------------
# The library


@lru_cache(maxsize=1)
def load_material_library() -> dict[str, Material]:
    """All named materials: MCsquare's, then ours (ours replace MCsquare's on a name clash).

    The dictionary is cached and shared: treat it as read-only (copy it before changing it).
    """
    library = {m.name: m for m in _read_mcsquare_materials()[0]}
    library.update({m.name: m for m in _read_braggdesk_materials()})
    return library


def get_material(name: str) -> Material:
    """The material called ``name`` (case-insensitive); UnknownMaterialError lists close names."""
    library = load_material_library()
    if name in library:
        return library[name]
    folded = _folded_names()
    key = str(name).strip().casefold()
    if key in folded:
        return library[folded[key]]
    close = difflib.get_close_matches(key, list(folded), n=5, cutoff=0.6)
    raise UnknownMaterialError(str(name), [folded[c] for c in close])


@lru_cache(maxsize=1)
def _folded_names() -> dict[str, str]:
    return {name.casefold(): name for name in load_material_library()}


def material_by_mcsquare_label(label: int) -> Material:
    """The library material MCsquare calls by this label number (``Materials/list.dat``).

    Resolved through the name, so MCsquare's PMMA (64) and Air (13) give our own definitions.
    Raises UnknownMaterialError for a label MCsquare does not define.
    """
    names = _read_mcsquare_materials()[1]
    if int(label) not in names:
        raise UnknownMaterialError(f"MCsquare label {label}", [])
    return get_material(names[int(label)])


def mcsquare_label_of(name: str) -> int | None:
    """MCsquare's label number for a material name (case-insensitive), None if MCsquare has none."""
    key = name.casefold()
    for label, mc_name in _read_mcsquare_materials()[1].items():
        if mc_name.casefold() == key:
            return label
    return None


@lru_cache(maxsize=1)
def _read_mcsquare_materials() -> tuple[list[Material], dict[int, str]]:
    path = resource_path("materials/mcsquare_materials.csv")
    materials: list[Material] = []
    labels: dict[int, str] = {}
    for line_no, row in _csv_rows(path):
        name = row.get("name", "").strip()
        try:
            density = float(row["density_g_cm3"])
            label = int(row["mcsquare_label"])
            fractions = {
                symbol: round(float(row[f"mass_pct_{column}"]) / 100.0, 12)
                for column, symbol in _MCSQUARE_ELEMENT_COLUMNS.items()
                if row.get(f"mass_pct_{column}", "").strip()
            }
            fractions = {s: w for s, w in fractions.items() if w > 0}
            if not fractions:
                if name.casefold() not in _MCSQUARE_PURE_ELEMENTS:
                    raise ValueError(f"material '{name}' has no composition")
                fractions = {_MCSQUARE_PURE_ELEMENTS[name.casefold()]: 1.0}
            material = Material(name=name, density_g_cm3=density, mass_fractions=_normalised(fractions))
        except (KeyError, ValueError) as exc:
            raise InputError(path, f"line {line_no}: {exc}") from exc
        materials.append(material)
        labels[label] = name
    return materials, labels


def _read_braggdesk_materials() -> list[Material]:
    path = resource_path("materials/braggdesk_materials.csv")
    materials = []
    for line_no, row in _csv_rows(path):
        try:
            i_value = row.get("i_value_ev", "").strip()
            materials.append(Material(
                name=row["name"].strip(),
                density_g_cm3=float(row["density_g_cm3"]),
                mass_fractions=parse_mass_fractions(row["composition"]),
                i_value_ev=float(i_value) if i_value else None,
            ))
        except (KeyError, ValueError) as exc:
            raise InputError(path, f"line {line_no}: {exc}") from exc
    return materials


def _csv_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV file with '#' comment lines, each with its 1-based line number."""
    lines = read_text_lines(path, "a CSV table")
    numbered = [(i + 1, line) for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise InputError(path, "no header line found; expected a CSV table")
    header = next(csv.reader([numbered[0][1]]))
    rows = []
    for line_no, line in numbered[1:]:
        values = next(csv.reader([line]))
        rows.append((line_no, dict(zip(header, values))))
    return rows


# ---------------------------------------------------------------------------------------------
# Schneider et al. 2000 (as tabulated by TOPAS)


@lru_cache(maxsize=1)
def schneider_density_sections() -> tuple[tuple[float, float, float, float, float], ...]:
    """The 7 HU -> density sections: (hu_min, hu_max, offset, factor, factor_offset_hu).

    In [hu_min, hu_max) the density is ``offset + factor * (factor_offset_hu + HU)`` g/cm3
    (TOPAS's ``HUtoMaterialSchneider.txt`` form of Schneider et al. 2000, without TOPAS's
    DensityCorrection factor).
    """
    path = resource_path("physics/schneider_topas_hu_to_density.csv")
    sections = []
    for line_no, row in _csv_rows(path):
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
    for line_no, row in _csv_rows(path):
        try:
            number = int(row["section"])
            hu_min, hu_max = float(row["hu_min_inclusive"]), float(row["hu_max_exclusive"])
            fractions = {s: float(row[c]) for c, s in _SCHNEIDER_ELEMENT_COLUMNS.items()}
            fractions = _normalised({s: w for s, w in fractions.items() if w > 0})
            label = _SCHNEIDER_SECTION_NAMES[number - 1]
            density = float(schneider_density(0.5 * (hu_min + hu_max)))
            material = Material(f"Schneider2000_S{number:02d}_{label}", round(density, 6), fractions)
        except (KeyError, ValueError, IndexError) as exc:
            raise InputError(path, f"line {line_no}: {exc}") from exc
        sections.append((hu_min, hu_max, material))
    if len(sections) != 25:
        raise InputError(path, f"found {len(sections)} HU sections, expected 25")
    return sections
