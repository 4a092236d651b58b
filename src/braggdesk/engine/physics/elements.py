"""Per-element constants the engine needs: Z, atomic mass, mean excitation energy, radiation length.

Kept as a small dict because twenty elements do not need a file format.  Sources:

* Atomic mass A [g/mol]: IUPAC standard atomic weights (the conventional values used by NIST
  PSTAR/ESTAR and by ICRU Reports 37/49; O = 15.9994 as in the shared water derivations).
* Mean excitation energy I [eV]:
  - H, C, N, O: the values ICRU Reports 37 and 49 recommend for these elements *bound in
    compounds* (H 19.2, C 81.0, N 82.0, O 106.0 eV), because in tissue they are never free
    atoms or elemental solids.  Bragg additivity with these values gives 75.3 eV for water,
    close to the ICRU 49 value of 75 eV.
  - all others: the elemental values of ICRU Report 37 as tabulated by NIST (ESTAR/PSTAR
    "mean excitation energy"), e.g. Al 166, Ca 191, Ti 233, Fe 286, Pb 823 eV.
* Radiation length X0 [g/cm^2]: PDG "Atomic and Nuclear Properties of Materials" (Tsai's
  formula, PDG Review of Particle Physics, section "Passage of particles through matter",
  eq. for 1/X0 with the Lrad/L'rad table).  The test suite re-derives them from Tsai's formula.
"""

from __future__ import annotations

from dataclasses import dataclass

from braggdesk.errors import InputError
from braggdesk.model import Material

__all__ = ["Element", "ELEMENTS", "element", "normalised_mass_fractions"]


@dataclass(frozen=True)
class Element:
    """One chemical element as the transport needs it."""

    symbol: str
    name: str  # lower-case English name, as in the ICRU 63 / MCsquare nuclear table
    z: int
    a_g_mol: float
    i_value_ev: float
    radiation_length_g_cm2: float

    @property
    def z_over_a(self) -> float:
        """Z/A in mol/g (electrons per gram divided by Avogadro's number)."""
        return self.z / self.a_g_mol


def _table() -> dict[str, Element]:
    rows = [
        # symbol, name, Z, A [g/mol], I [eV], X0 [g/cm2]
        ("H", "hydrogen", 1, 1.00794, 19.2, 63.04),
        ("C", "carbon", 6, 12.0107, 81.0, 42.70),
        ("N", "nitrogen", 7, 14.0067, 82.0, 37.99),
        ("O", "oxygen", 8, 15.9994, 106.0, 34.24),
        ("Na", "sodium", 11, 22.98977, 149.0, 27.74),
        ("Mg", "magnesium", 12, 24.3050, 156.0, 25.03),
        ("Al", "aluminium", 13, 26.981538, 166.0, 24.01),
        ("Si", "silicon", 14, 28.0855, 173.0, 21.82),
        ("P", "phosphorus", 15, 30.973761, 173.0, 21.21),
        ("S", "sulfur", 16, 32.065, 180.0, 19.50),
        ("Cl", "chlorine", 17, 35.453, 174.0, 19.28),
        ("Ar", "argon", 18, 39.948, 188.0, 19.55),
        ("K", "potassium", 19, 39.0983, 190.0, 17.32),
        ("Ca", "calcium", 20, 40.078, 191.0, 16.14),
        ("Ti", "titanium", 22, 47.867, 233.0, 16.16),
        ("Fe", "iron", 26, 55.845, 286.0, 13.84),
        ("Cu", "copper", 29, 63.546, 322.0, 12.86),
        ("Ta", "tantalum", 73, 180.94788, 718.0, 6.82),
        ("W", "tungsten", 74, 183.84, 727.0, 6.76),
        ("Pb", "lead", 82, 207.2, 823.0, 6.37),
    ]
    return {s: Element(s, n, z, a, i, x0) for s, n, z, a, i, x0 in rows}


ELEMENTS: dict[str, Element] = _table()
"""Element symbol -> :class:`Element` (read-only by convention)."""


def element(symbol: str, material_name: str = "") -> Element:
    """The element with this symbol.

    An unknown symbol raises :class:`~braggdesk.errors.InputError` (no path: the engine only
    sees the material) that names the material, the symbol and the symbols it knows.
    """
    try:
        return ELEMENTS[symbol]
    except KeyError:
        where = f"material {material_name!r}: " if material_name else ""
        known = " ".join(ELEMENTS)
        raise InputError(None, f"{where}element {symbol!r} is not in braggdesk's element table (known: {known})") from None


def normalised_mass_fractions(material: Material) -> dict[str, float]:
    """Mass fractions scaled to sum exactly 1 (the model allows 0.98-1.02); unknown elements raise."""
    total = sum(material.mass_fractions.values())
    if total <= 0 or any(w < 0 for w in material.mass_fractions.values()):
        raise InputError(None, f"material {material.name!r}: mass fractions must be >= 0 and sum to 1, found {material.mass_fractions}")
    for symbol in material.mass_fractions:
        element(symbol, material.name)
    return {s: w / total for s, w in material.mass_fractions.items() if w > 0}
