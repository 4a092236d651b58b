"""The one element table: Z, atomic weight, mean excitation energies and radiation length.

Why one table: io/ checks the element symbols of material files and computes electron densities,
the engine computes stopping powers, radiation lengths and nuclear cross sections; with two
tables the same material had two electron densities, and a material that io accepted (with
iodine, fluorine or boron) failed in the engine.  Data: ``resources/physics/elements.csv``
(44 elements; its header comment gives the sources):

* atomic weight: IUPAC 2005 standard atomic weights;
* ``i_value_ev``: the elemental substance's mean excitation energy (ICRU Report 37, NIST);
* ``i_value_in_compound_ev``: the value Bragg additivity uses for an atom bound in a condensed
  compound (ICRU Report 37 / Seltzer and Berger 1982, kept by ICRU 49): H 19.2, C 81, N 82,
  O 106, F 112, Cl 180 eV; any other element 1.13 times its elemental value (noble gases
  excepted).  With this rule Bragg additivity reproduces the I-values ICRU 37/49 tabulate for
  tissues (ICRP cortical bone 106.5 eV vs 106.4, adipose 63.3 vs 63.2, skeletal muscle 75.1 vs
  75.1); without the factor 1.13 (braggdesk before 2026-12) cortical bone came out 102.6 eV;
* radiation length X0 [g/cm^2]: Tsai's formula (PDG Review, "Passage of particles through
  matter", eq. 34.26 with the Lrad / L'rad table for Z <= 4 and the Coulomb correction f(Z)),
  which is how the PDG tabulates X0 (H 63.04, C 42.70, O 34.24, Pb 6.37 g/cm^2).

:func:`normalise_mass_fractions` and :func:`z_over_a` are the only places that turn a
composition into numbers, for io/ and the engine alike.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

from braggdesk.errors import InputError

from .constants import FINE_STRUCTURE
from .packaged import read_csv_rows, resource_path

__all__ = [
    "ELEMENTS", "Element", "MASS_FRACTION_SUM_TOLERANCE", "element", "element_by_z", "normalise_mass_fractions",
    "tsai_radiation_length_g_cm2", "z_over_a",
]

_RESOURCE = "physics/elements.csv"
_COMPOUND_FACTOR = 1.13  # ICRU 37: I of an atom in a condensed compound = 1.13 x elemental (other elements)
MASS_FRACTION_SUM_TOLERANCE = 0.02  # compositions may sum to 0.98-1.02 (rounded tables); the same bound as Material


@dataclass(frozen=True)
class Element:
    """One chemical element as io/ and the transport need it."""

    symbol: str
    name: str  # lower-case English name, as in the ICRU 63 / MCsquare nuclear tables
    z: int
    a_g_mol: float
    i_value_ev: float  # elemental substance
    i_value_in_compound_ev: float  # bound in a condensed compound (Bragg additivity)
    gas: bool

    @property
    def z_over_a(self) -> float:
        """Z/A in mol/g (electrons per gram divided by Avogadro's number)."""
        return self.z / self.a_g_mol

    @property
    def radiation_length_g_cm2(self) -> float:
        """Radiation length X0 [g/cm^2] from Tsai's formula."""
        return tsai_radiation_length_g_cm2(self.z, self.a_g_mol)


_TSAI_LIGHT = {1: (5.31, 6.144), 2: (4.79, 5.621), 3: (4.74, 5.805), 4: (4.71, 5.924)}  # Z: (Lrad, L'rad), PDG


def tsai_radiation_length_g_cm2(z: int, a_g_mol: float) -> float:
    """1/X0 = 4 alpha r_e^2 N_A / A {Z^2 [Lrad - f(Z)] + Z L'rad} (Tsai 1974, PDG Review eq. 34.26)."""
    l_rad, l_rad_prime = _TSAI_LIGHT.get(z, (math.log(184.15 * z ** (-1 / 3)), math.log(1194 * z ** (-2 / 3))))
    a2 = (FINE_STRUCTURE * z) ** 2
    f = a2 * (1 / (1 + a2) + 0.20206 - 0.0369 * a2 + 0.0083 * a2 ** 2 - 0.002 * a2 ** 3)
    return 716.408 * a_g_mol / (z * z * (l_rad - f) + z * l_rad_prime)


@functools.lru_cache(maxsize=1)
def _read_elements() -> dict[str, Element]:
    path = resource_path(_RESOURCE)
    out: dict[str, Element] = {}
    for line_no, row in read_csv_rows(path, "the element table"):
        try:
            i_elem = float(row["i_value_ev"])
            gas = row["gas"].strip() == "1"
            compound = row["i_value_in_compounds_ev"].strip()
            i_comp = float(compound) if compound else (i_elem if gas else _COMPOUND_FACTOR * i_elem)
            el = Element(row["symbol"].strip(), row["name"].strip(), int(row["z"]), float(row["atomic_weight_g_mol"]),
                         i_elem, i_comp, gas)
        except (KeyError, ValueError) as exc:
            raise InputError(path, f"line {line_no}: {exc!r} (columns symbol,name,z,atomic_weight_g_mol,i_value_ev,"
                                   "i_value_in_compounds_ev,gas)") from exc
        if el.symbol in out:
            raise InputError(path, f"line {line_no}: element {el.symbol} appears twice")
        out[el.symbol] = el
    return out


ELEMENTS: Mapping[str, Element] = _read_elements()
"""Element symbol -> :class:`Element` (read-only by convention)."""


@functools.lru_cache(maxsize=1)
def _by_z() -> dict[int, Element]:
    return {e.z: e for e in ELEMENTS.values()}


def element(symbol: str, material_name: str = "") -> Element:
    """The element with this symbol.

    An unknown symbol raises :class:`~braggdesk.errors.InputError` (no path: the caller adds the
    file) that names the material, the symbol and the symbols the table knows.
    """
    try:
        return ELEMENTS[symbol]
    except KeyError:
        where = f"material {material_name!r}: " if material_name else ""
        known = " ".join(ELEMENTS)
        raise InputError(None, f"{where}element {symbol!r} is not in braggdesk's element table (known: {known})") from None


def element_by_z(z: int) -> Element:
    """The element with atomic number ``z`` (InputError if the table lacks it)."""
    try:
        return _by_z()[int(z)]
    except KeyError:
        raise InputError(None, f"element Z={z} is not in braggdesk's element table") from None


def normalise_mass_fractions(mass_fractions: Mapping[str, float], material_name: str = "") -> dict[str, float]:
    """Mass fractions scaled to sum 1, zeros dropped; idempotent (a sum within 1e-12 of 1 is kept as is,
    so reading back a written composition gives the same floats).

    Raises :class:`~braggdesk.errors.InputError` (naming the material) for an unknown element
    symbol, a fraction that is negative or not finite, or a sum outside 1 +- 0.02 (compositions
    are tabulated to 4-6 digits; a larger error is a wrong composition, not rounding).
    """
    where = f"material {material_name!r}: " if material_name else ""
    out: dict[str, float] = {}
    for symbol, value in mass_fractions.items():
        element(symbol, material_name)
        w = float(value)
        if not math.isfinite(w) or w < 0:
            raise InputError(None, f"{where}mass fraction {value!r} of {symbol} must be a finite number >= 0")
        if w > 0:
            out[symbol] = w
    total = sum(out.values())
    if not out or abs(total - 1.0) > MASS_FRACTION_SUM_TOLERANCE:
        raise InputError(None, f"{where}mass fractions sum to {total:.6g}, expected 1 "
                               f"(+- {MASS_FRACTION_SUM_TOLERANCE}); found {dict(mass_fractions)}")
    if abs(total - 1.0) <= 1e-12:
        return out
    return {s: w / total for s, w in out.items()}


def z_over_a(mass_fractions: Mapping[str, float], material_name: str = "") -> float:
    """<Z/A> = sum_i w_i Z_i / A_i [mol/g] of a composition (normalised to sum 1 first)."""
    fractions = normalise_mass_fractions(mass_fractions, material_name)
    return sum(w * ELEMENTS[s].z_over_a for s, w in fractions.items())
