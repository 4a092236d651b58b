"""What a nonelastic proton-nucleus event gives off, per element and per material (ICRU 63).

Data: ``resources/physics/icru63_proton_nonelastic_secondaries_mcsquare.csv``, re-tabulated by
``tools/derive_icru63_secondaries.py`` from MCsquare's ICRU 63 files: per element and incident
energy the mean multiplicity of secondary protons, deuterons and alphas, the deuterons' and
alphas' mean emission energy, and the protons' and deuterons' emission spectra as 21 quantiles.

Why it matters: at 150 MeV on oxygen ICRU 63 gives about two secondary protons with a mean of
36 MeV (range ~1.3 cm), 0.37 deuterons and 0.87 alphas besides the 2.4 % of the energy to heavy
recoils.  Most of that charged energy is deposited within a centimetre or two of the event, and it
builds up the entrance plateau of a broad field by several per cent.  A single fast secondary
proton carrying the rest (the previous model) put that energy centimetres downstream.

Rules (documented choices, not data):

* Alphas and heavy recoils deposit their energy where the event happens (ranges < 1 mm).
* Secondary protons and deuterons are transported (a 40 MeV deuteron goes ~1 cm; depositing it on
  the spot put 15 MeV per event into one voxel and cost 18 % more histories for the same
  uncertainty).  Their number is the multiplicity rounded stochastically (floor(M) or
  floor(M)+1 with the right mean), each energy drawn from the emission spectrum.
* In a material the element hit is not tracked: multiplicities and local energy fractions are
  averaged over the elements weighted by their share of the nonelastic cross section, and each
  spectrum is the mixture of the elements' spectra weighted by cross section times multiplicity
  -- the distribution of a single emitted particle, which is what the engine samples.
* Between tabulated incident energies values are linear; quantiles are kept as fractions of the
  incident energy, held below the first and above the last tabulated energy.
* Elements the table lacks borrow the nearest Z (as :mod:`.nuclear` does for cross sections).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from braggdesk.errors import InputError
from braggdesk.model import Material

from .elements import ELEMENTS
from .nuclear import element_sources
from .packaged import read_packaged_csv

__all__ = ["ElementSecondaries", "icru63_secondaries", "MaterialEmission", "material_emission", "no_emission"]

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
    deuteron_quantile_fraction: np.ndarray  # (n, q)

    def _lerp(self, column: np.ndarray, energy_mev: np.ndarray) -> np.ndarray:
        return np.interp(energy_mev, self.energy_mev, column)

    def multiplicity(self, energy_mev: np.ndarray, particle: str = "proton") -> np.ndarray:
        """Mean number of secondary protons (or deuterons) per nonelastic event."""
        column = self.proton_multiplicity if particle == "proton" else self.deuteron_multiplicity
        return self._lerp(column, np.asarray(energy_mev, dtype=float))

    def alpha_energy_fraction(self, energy_mev: np.ndarray) -> np.ndarray:
        """Alpha energy / incident energy: deposited where the event happens."""
        a = self.alpha_multiplicity * self.alpha_mean_energy_mev / self.energy_mev
        return self._lerp(a, np.asarray(energy_mev, dtype=float))

    def quantile_fractions(self, energy_mev: np.ndarray, particle: str = "proton") -> np.ndarray:
        """(len(E), q) emission-energy quantiles of protons (or deuterons) as fractions of each incident energy."""
        e = np.atleast_1d(np.asarray(energy_mev, dtype=float))
        q = self.proton_quantile_fraction if particle == "proton" else self.deuteron_quantile_fraction
        return np.stack([np.interp(e, self.energy_mev, q[:, k]) for k in range(q.shape[1])], axis=1)


@functools.lru_cache(maxsize=1)
def icru63_secondaries() -> dict[str, ElementSecondaries]:
    """Element symbol -> emission data, read once from the packaged CSV."""
    path, rows = read_packaged_csv(_RESOURCE, "nuclear secondaries table")
    header = rows[0] if rows else {}
    p_cols = sorted(c for c in header if c.startswith("proton_energy_quantile_"))
    d_cols = sorted(c for c in header if c.startswith("deuteron_energy_quantile_"))
    missing = [c for c in ("element", "kinetic_energy_MeV", *_SCALARS) if c not in header]
    if missing or len(p_cols) < 2 or len(d_cols) != len(p_cols):
        raise InputError(path, f"expected columns element, kinetic_energy_MeV, {', '.join(_SCALARS)}, "
                               f"proton_energy_quantile_* and as many deuteron_energy_quantile_*; "
                               f"missing {missing or 'quantile columns'}")
    by_name = {e.name: e.symbol for e in ELEMENTS.values()}
    grouped: dict[str, list[list[float]]] = {}
    for n, row in enumerate(rows, start=2):
        name = row["element"].strip().lower()
        if name not in by_name:
            raise InputError(path, f"line {n}: element {name!r} is not in braggdesk's element table")
        try:
            values = ([float(row["kinetic_energy_MeV"])] + [float(row[c]) for c in _SCALARS]
                      + [float(row[c]) for c in p_cols] + [float(row[c]) for c in d_cols])
        except ValueError as exc:
            raise InputError(path, f"line {n}: every column after the element must be a number ({exc})") from exc
        grouped.setdefault(by_name[name], []).append(values)
    out: dict[str, ElementSecondaries] = {}
    for symbol, values in grouped.items():
        a = np.array(values)
        e = a[:, 0]
        qp, qd = a[:, 6:6 + len(p_cols)], a[:, 6 + len(p_cols):]
        if (np.any(np.diff(e) <= 0) or np.any(a[:, 1:6] < 0) or np.any(np.diff(qp, axis=1) < -1e-9)
                or np.any(np.diff(qd, axis=1) < -1e-9)):
            raise InputError(path, f"{symbol}: energies must increase, multiplicities and energies be >= 0 "
                                   f"and quantiles non-decreasing")
        out[symbol] = ElementSecondaries(symbol, e, a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5],
                                         qp / e[:, None], qd / e[:, None])
    return out


@dataclass(frozen=True, eq=False)
class MaterialEmission:
    """Per-event emission of one material on an energy grid (rows of the engine's tables)."""

    energy_grid_mev: np.ndarray  # (n,)
    proton_multiplicity: np.ndarray  # (n,)
    deuteron_multiplicity: np.ndarray  # (n,)
    local_energy_fraction: np.ndarray  # (n,) heavy recoils + alphas
    proton_quantile_fraction: np.ndarray  # (n, q)
    deuteron_quantile_fraction: np.ndarray  # (n, q)


def _mixture_quantiles(u: np.ndarray, quantiles: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Quantiles at ``u`` of the mixture of distributions given by their quantiles at ``u``."""
    if len(quantiles) == 1 or np.count_nonzero(weights) == 1:
        return quantiles[int(np.argmax(weights))]
    x = np.unique(np.concatenate(quantiles))
    cdf = sum(w * np.interp(x, q, u) for q, w in zip(quantiles, weights)) / weights.sum()
    cdf, first = np.unique(cdf, return_index=True)  # strictly increasing for the inverse
    return np.interp(u, cdf, x[first])


def no_emission(energy_grid_mev: np.ndarray) -> MaterialEmission:
    """What a material without nonelastic elements (or one no voxel uses) emits: nothing."""
    grid = np.asarray(energy_grid_mev, dtype=float)
    n_q = next(iter(icru63_secondaries().values())).proton_quantile_fraction.shape[1]
    zeros, zq = np.zeros_like(grid), np.zeros((grid.size, n_q))
    return MaterialEmission(grid, zeros, zeros, zeros, zq, zq)


def material_emission(material: Material, energy_grid_mev: np.ndarray, recoil_fraction: np.ndarray) -> MaterialEmission:
    """Cross-section-weighted emission data of ``material`` at each grid energy.

    ``recoil_fraction`` is the material's heavy-recoil energy fraction on the grid
    (:func:`.nuclear.recoil_energy_fraction`).  Without nonelastic elements (hydrogen only) the
    multiplicity is 0 and nothing is emitted.
    """
    grid = np.asarray(energy_grid_mev, dtype=float)
    data = icru63_secondaries()
    sources = element_sources(material, grid)  # [(tabulated symbol, its part of Sigma/rho on the grid)]
    if not sources:
        return no_emission(grid)
    n_q = next(iter(data.values())).proton_quantile_fraction.shape[1]
    u = np.linspace(0.0, 1.0, n_q)
    share = np.array([s for _, s in sources])  # (elements, n)
    total = share.sum(axis=0)
    frac = np.divide(share, total, out=np.zeros_like(share), where=total > 0)
    els = [data[symbol] for symbol, _ in sources]
    alpha = np.array([el.alpha_energy_fraction(grid) for el in els])
    local = np.clip(recoil_fraction + (frac * alpha).sum(axis=0), 0.0, 1.0)
    out = {}
    for particle in ("proton", "deuteron"):
        mult = np.array([el.multiplicity(grid, particle) for el in els])
        q_el = [el.quantile_fractions(grid, particle) for el in els]  # each (n, q)
        quant = np.empty((grid.size, n_q))
        for i in range(grid.size):
            w = frac[:, i] * mult[:, i]
            quant[i] = _mixture_quantiles(u, [q[i] for q in q_el], w) if w.sum() > 0 else q_el[0][i]
        out[particle] = ((frac * mult).sum(axis=0), quant)
    return MaterialEmission(grid, out["proton"][0], out["deuteron"][0], local, out["proton"][1], out["deuteron"][1])
