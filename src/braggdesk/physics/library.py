"""The material library: every material braggdesk knows by name.

Why one library: CT calibrations, range shifters and phantoms all name materials ("Water",
"Lexan", "Schneider_Lung", "Solid_Water_HE"); resolving those names in one place means a
typo is caught when a file is read, with close names offered, rather than deep in transport.

Two tables in ``resources/materials/`` are merged (ours win on a name clash):

* ``mcsquare_materials.csv`` -- MCsquare's 82 materials (:mod:`.mcsquare`): elements, ICRU
  tissues, the 24 ``Schneider_*`` tissues and phantom plastics, with MCsquare's label numbers,
  which MCsquare scanner and BDL files use to name materials.  They are MCsquare's materials:
  their stopping powers and radiation lengths are MCsquare's own (``stopping_power_table``).
* ``braggdesk_materials.csv`` -- materials we define (Solid_Water_HE, PMMA, Air, Water), columns
  ``name, density_g_cm3, i_value_ev, composition, reference``; ``composition`` is written
  ``H:0.08 C:0.673 ...`` (symbol, colon, mass fraction, space separated).  Their stopping power
  comes from the composition and the I-value (:mod:`.stopping`).

A label of an MCsquare scanner or BDL file means MCsquare's own material
(:func:`material_by_mcsquare_label`), even where a name clash gives ours to :func:`get_material`.
Compositions are renormalised to sum to exactly 1 (the tables are rounded to 4-6 digits).
"""

from __future__ import annotations

import difflib
import math
import re
from functools import lru_cache

from braggdesk.errors import BraggdeskError, InputError
from braggdesk.model.material import Material

from .elements import ELEMENTS, normalise_mass_fractions
from .mcsquare import mcsquare_label_names, mcsquare_materials
from .packaged import read_csv_rows, resource_path

__all__ = [
    "UnknownMaterialError",
    "format_mass_fractions",
    "get_material",
    "load_material_library",
    "material_by_mcsquare_label",
    "mcsquare_label_of",
    "parse_mass_fractions",
]


class UnknownMaterialError(KeyError, BraggdeskError):
    """A material name the library does not know; the message lists close names."""

    def __init__(self, name: str, suggestions: list[str]):
        self.name = name
        self.suggestions = suggestions
        hint = f"; close names: {', '.join(suggestions)}" if suggestions else ""
        super().__init__(f"unknown material '{name}'{hint} (see resources/materials/ for the list)")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


# ---------------------------------------------------------------------------------------------
# Composition text: "H:0.111894 O:0.888106"


def parse_mass_fractions(text: str) -> dict[str, float]:
    """Parse ``"H:0.11 O:0.89"`` (``:`` or ``=``; spaces, ``;`` or ``|`` between entries).

    Fractions are renormalised to sum to 1 (:func:`~braggdesk.physics.elements.normalise_mass_fractions`);
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
            raise ValueError(f"'{symbol}' in composition is not an element symbol braggdesk knows "
                             f"({' '.join(ELEMENTS)})")
        if symbol in fractions:
            raise ValueError(f"element {symbol} appears twice in the composition")
        try:
            fraction = float(value)
        except ValueError:
            raise ValueError(f"mass fraction '{value}' of {symbol} is not a number") from None
        if not math.isfinite(fraction) or fraction < 0:
            raise ValueError(f"mass fraction {value} of {symbol} must be a finite number >= 0")
        fractions[symbol] = fraction
    try:
        return normalise_mass_fractions(fractions)
    except InputError as exc:
        raise ValueError(exc.problem) from None


def format_mass_fractions(mass_fractions: dict[str, float]) -> str:
    """The inverse of :func:`parse_mass_fractions`; floats written exactly (``repr``)."""
    return " ".join(f"{symbol}:{float(fraction)!r}" for symbol, fraction in mass_fractions.items())


# ---------------------------------------------------------------------------------------------
# The library


@lru_cache(maxsize=1)
def load_material_library() -> dict[str, Material]:
    """All named materials: MCsquare's, then ours (ours replace MCsquare's on a name clash).

    The dictionary is cached and shared: treat it as read-only (copy it before changing it).
    """
    library = {name: m.material for name, m in mcsquare_materials().items()}
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
    """MCsquare's own material with this label number (``Materials/list.dat``), with MCsquare's stopping powers.

    Not resolved through our names: in an MCsquare scanner, label 64 is MCsquare's PMMA, not ours.
    Raises UnknownMaterialError for a label MCsquare does not define.
    """
    names = mcsquare_label_names()
    if int(label) not in names:
        raise UnknownMaterialError(f"MCsquare label {label}", [])
    return mcsquare_materials()[names[int(label)]].material


def mcsquare_label_of(name: str) -> int | None:
    """MCsquare's label number for a material name (case-insensitive), None if MCsquare has none."""
    key = name.casefold()
    for label, mc_name in mcsquare_label_names().items():
        if mc_name.casefold() == key:
            return label
    return None


def _read_braggdesk_materials() -> list[Material]:
    path = resource_path("materials/braggdesk_materials.csv")
    materials = []
    for line_no, row in read_csv_rows(path, "braggdesk's material table"):
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
