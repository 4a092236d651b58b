"""What a nonelastic proton-nucleus event gives off, per element and per material (ICRU 63).

Data: ``resources/physics/icru63_proton_nonelastic_secondaries_mcsquare.csv``, re-tabulated by
``tools/derive_icru63_secondaries.py`` from MCsquare's ICRU 63 files: per element and incident
energy the mean multiplicity of secondary protons, deuterons and alphas, the deuterons' and
alphas' mean emission energy, and the secondary protons' emission spectrum as 21 quantiles.

Why it matters: at 150 MeV on oxygen ICRU 63 gives about two secondary protons with a mean of
36 MeV (range ~1.3 cm), 0.37 deuterons and 0.87 alphas besides the 2.4 % of the energy to heavy
recoils.  Most of that charged energy is deposited within a centimetre or two of the event, and it
builds up the entrance plateau of a broad field by several per cent.  A single fast secondary
proton carrying the rest (the previous model) put that energy centimetres downstream.

Rules (documented choices, not data):

* Deuterons, alphas and heavy recoils deposit their energy where the event happens (alpha ranges
  are < 1 mm; a 40 MeV deuteron's is ~1 cm, the largest error of this choice).
* Secondary protons are transported; their number is the multiplicity rounded stochastically
  (floor(M) or floor(M)+1 with the right mean), each energy drawn from the emission spectrum.
* In a material the element hit is not tracked: multiplicities and local energy fractions are
  averaged over the elements weighted by their share of the nonelastic cross section, and the
  proton spectrum is the mixture of the elements' spectra weighted by cross section times
  multiplicity -- the distribution of a single emitted proton, which is what the engine samples.
* Between tabulated incident energies values are linear; quantiles are kept as fractions of the
  incident energy, held below the first and above the last tabulated energy.
* Elements the table lacks borrow the nearest Z (as :mod:`.nuclear` does for cross sections).
"""

from __future__ import annotations

import csv
import functools
import importlib.resources
from dataclasses import dataclass

import numpy as np

from braggdesk.errors import InputError
from braggdesk.model import Material

from .elements import ELEMENTS
from .nuclear import element_sources

__all__ = ["ElementSecondaries", "icru63_secondaries", "MaterialEmission", "material_emission"]

_RESOURCE = ("physics", "icru63_proton_nonelastic_secondaries_mcsquare.csv")
_SCALARS = ("proton_multiplicity", "deuteron_multiplicity", "deuteron_mean_energy_MeV", "alpha_multiplicity",
            "alpha_mean_energy_MeV")


@dataclass(frozen=True, eq=False)
class ElementSecondaries:
    """One element's tabulated emission data (incident energies increasing)."""

    symbol: str
    energy_mev: np.ndarray  # (n,)
    proton_multiplicity: np.ndarray  # (n,)
    deuteron_multiplicity: np.ndarray
    deuteron_mean_energy_mev: np.ndarray
    alpha_multiplicity: np.ndarray
    alpha_mean_energy_mev: np.ndarray
    proton_quantile_fraction: np.ndarray  # (n, q): emission-energy quantiles / incident energy

    def _lerp(self, column: np.ndarray, energy_mev: np.ndarray) -> np.ndarray:
        return np.interp(energy_mev, self.energy_mev, column)

    def multiplicity(self, energy_mev: np.ndarray) -> np.ndarray:
        """Mean number of secondary protons per nonelastic event."""
        return self._lerp(self.proton_multiplicity, np.asarray(energy_mev, dtype=float))

    def light_ion_energy_fraction(self, energy_mev: np.ndarray) -> np.ndarray:
        """(deuteron + alpha energy) / incident energy: deposited where the event happens."""
        e = np.asarray(energy_mev, dtype=float)
        d = self.deuteron_multiplicity * self.deuteron_mean_energy_mev / self.energy_mev
        a = self.alpha_multiplicity * self.alpha_mean_energy_mev / self.energy_mev
        return self._lerp(d + a, e)

    def quantile_fractions(self, energy_mev: np.ndarray) -> np.ndarray:
        """(len(E), q) proton emission quantiles as fractions of each incident energy."""
        e = np.atleast_1d(np.asarray(energy_mev, dtype=float))
        q = self.proton_quantile_fraction
        return np.stack([np.interp(e, self.energy_mev, q[:, k]) for k in range(q.shape[1])], axis=1)


@functools.lru_cache(maxsize=1)
def icru63_secondaries() -> dict[str, ElementSecondaries]:
    """Element symbol -> emission data, read once from the packaged CSV."""
    res = importlib.resources.files("braggdesk.resources").joinpath(*_RESOURCE)
    path = str(res)
    try:
        rows = list(csv.DictReader(res.read_text(encoding="utf-8").splitlines()))
    except OSError as exc:
        raise InputError(path, f"cannot read the nuclear secondaries table ({exc}); the package data is incomplete") from exc
    quantile_cols = sorted(c for c in (rows[0] if rows else {}) if c.startswith("proton_energy_quantile_"))
    missing = [c for c in ("element", "kinetic_energy_MeV", *_SCALARS) if not rows or c not in rows[0]]
    if missing or len(quantile_cols) < 2:
        raise InputError(path, f"expected columns element, kinetic_energy_MeV, {', '.join(_SCALARS)} and "
                               f"proton_energy_quantile_*; missing {missing or 'the quantile columns'}")
    by_name = {e.name: e.symbol for e in ELEMENTS.values()}
    grouped: dict[str, list[list[float]]] = {}
    for n, row in enumerate(rows, start=2):
        name = row["element"].strip().lower()
        if name not in by_name:
            raise InputError(path, f"line {n}: element {name!r} is not in braggdesk's element table")
        try:
            values = [float(row["kinetic_energy_MeV"])] + [float(row[c]) for c in _SCALARS] + [float(row[c]) for c in quantile_cols]
        except ValueError as exc:
            raise InputError(path, f"line {n}: every column after the element must be a number ({exc})") from exc
        grouped.setdefault(by_name[name], []).append(values)
    out: dict[str, ElementSecondaries] = {}
    for symbol, values in grouped.items():
        a = np.array(values)
        e = a[:, 0]
        q = a[:, 6:]
        if np.any(np.diff(e) <= 0) or np.any(a[:, 1:6] < 0) or np.any(np.diff(q, axis=1) < -1e-9):
            raise InputError(path, f"{symbol}: energies must increase, multiplicities and energies be >= 0 "
                                   f"and quantiles non-decreasing")
        out[symbol] = ElementSecondaries(symbol, e, a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5], q / e[:, None])
    return out


@dataclass(frozen=True, eq=False)
class MaterialEmission:
    """Per-event emission of one material on an energy grid (rows of the engine's tables)."""

    energy_grid_mev: np.ndarray  # (n,)
    proton_multiplicity: np.ndarray  # (n,)
    local_energy_fraction: np.ndarray  # (n,) recoils + deuterons + alphas
    proton_quantile_fraction: np.ndarray  # (n, q)


def _mixture_quantiles(u: np.ndarray, quantiles: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Quantiles at ``u`` of the mixture of distributions given by their quantiles at ``u``."""
    if len(quantiles) == 1 or np.count_nonzero(weights) == 1:
        return quantiles[int(np.argmax(weights))]
    x = np.unique(np.concatenate(quantiles))
    cdf = sum(w * np.interp(x, q, u) for q, w in zip(quantiles, weights)) / weights.sum()
    cdf, first = np.unique(cdf, return_index=True)  # strictly increasing for the inverse
    return np.interp(u, cdf, x[first])


def material_emission(material: Material, energy_grid_mev: np.ndarray, recoil_fraction: np.ndarray) -> MaterialEmission:
    """Cross-section-weighted emission data of ``material`` at each grid energy.

    ``recoil_fraction`` is the material's heavy-recoil energy fraction on the grid
    (:func:`.nuclear.recoil_energy_fraction`).  Without nonelastic elements (hydrogen only) the
    multiplicity is 0 and nothing is emitted.
    """
    grid = np.asarray(energy_grid_mev, dtype=float)
    data = icru63_secondaries()
    sources = element_sources(material, grid)  # [(tabulated symbol, macroscopic sigma share on the grid)]
    n_q = next(iter(data.values())).proton_quantile_fraction.shape[1]
    u = np.linspace(0.0, 1.0, n_q)
    if not sources:
        zeros = np.zeros_like(grid)
        return MaterialEmission(grid, zeros, zeros, np.zeros((grid.size, n_q)))
    share = np.array([s for _, s in sources])  # (elements, n)
    total = share.sum(axis=0)
    frac = np.divide(share, total, out=np.zeros_like(share), where=total > 0)
    els = [data[symbol] for symbol, _ in sources]
    mult = np.array([el.multiplicity(grid) for el in els])
    light = np.array([el.light_ion_energy_fraction(grid) for el in els])
    q_el = [el.quantile_fractions(grid) for el in els]  # each (n, q)
    multiplicity = (frac * mult).sum(axis=0)
    local = np.clip(recoil_fraction + (frac * light).sum(axis=0), 0.0, 1.0)
    quant = np.empty((grid.size, n_q))
    for i in range(grid.size):
        w = frac[:, i] * mult[:, i]
        quant[i] = _mixture_quantiles(u, [q[i] for q in q_el], w) if w.sum() > 0 else q_el[0][i]
    return MaterialEmission(grid, multiplicity, local, quant)
