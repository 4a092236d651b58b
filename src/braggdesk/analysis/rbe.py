"""RBE-weighted dose from the scored LETd: constant 1.1, McNamara et al. 2015 and Wedenberg et al. 2013.

Why LET-based models: the RBE of protons rises towards the end of range, where LETd is high,
and more so for tissues of low alpha/beta; a constant 1.1 hides the extra biological dose
just beyond the target.  Both LET models are phenomenological fits of the linear-quadratic
(LQ) model's RBEmax (RBE at dose -> 0, i.e. alpha_p / alpha_x) and RBEmin (RBE at dose -> inf,
sqrt(beta_p / beta_x)) to in-vitro data, with LETd in keV/um and alpha/beta of the photon
reference in Gy:

* McNamara, Schuemann, Paganetti, Phys Med Biol 60 (2015) 8399, eqs. (6)-(7)::

      RBEmax = 0.99064 + 0.35605 / (a/b) * LETd
      RBEmin = 1.1012 - 0.0038703 * sqrt(a/b) * LETd

* Wedenberg, Lind, Hardemark, Acta Oncol 52 (2013) 580::

      RBEmax = 1 + 0.434 * LETd / (a/b),   RBEmin = 1

and the LQ iso-effect relation for a physical dose d per fraction::

      RBE(d) = 1 / (2 d) * ( sqrt((a/b)^2 + 4 d (a/b) RBEmax + 4 d^2 RBEmin^2) - a/b )

which tends to RBEmax as d -> 0 and to RBEmin as d -> inf.  Where d = 0 the RBE is RBEmax (the
limit) and the RBE-weighted dose 0.

The dose the engine scores for a DICOM plan is the dose of one fraction (the plan's metersets are
per fraction), so ``fractions`` defaults to 1; give the number of fractions when ``dose_gy`` is the
dose of the whole course.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from braggdesk.errors import BraggdeskError
from braggdesk.model import StructureMask

RBE_MODELS = ("constant", "mcnamara", "wedenberg")
CONSTANT_RBE = 1.1
DEFAULT_ALPHA_BETA_GY = 10.0  # early-responding tissue and most tumours; late-responding organs ~2-3 Gy
MASK_INSIDE = 0.5  # a voxel belongs to a structure (for its alpha/beta) when at least half of it is inside


class RbeError(BraggdeskError, ValueError):
    """An RBE model, alpha/beta or fraction number that cannot be used; the message names it."""


def check_alpha_beta(alpha_beta_gy, what: str = "alpha/beta") -> np.ndarray:
    """``alpha_beta_gy`` as a float array, refused if any value is zero, negative or not finite."""
    ab = np.asarray(alpha_beta_gy, dtype=np.float64)
    bad = ~(np.isfinite(ab) & (ab > 0))
    if bad.any():
        value = ab[bad].flat[0] if ab.ndim else float(ab)
        raise RbeError(f"{what} must be a positive number of Gy, got {value:g}")
    return ab


def rbe_max_min(model: str, let_kev_um, alpha_beta_gy) -> tuple[np.ndarray, np.ndarray]:
    """(RBEmax, RBEmin) of ``model`` ("mcnamara" or "wedenberg") at LETd (keV/um) and alpha/beta (Gy)."""
    ab = check_alpha_beta(alpha_beta_gy)
    let = np.asarray(let_kev_um, dtype=np.float64)
    if model == "mcnamara":
        return 0.99064 + 0.35605 / ab * let, 1.1012 - 0.0038703 * np.sqrt(ab) * let
    if model == "wedenberg":
        rbe_max = 1.0 + 0.434 * let / ab
        return rbe_max, np.ones_like(rbe_max)
    raise RbeError(f"RBE model {model!r} has no RBEmax / RBEmin; the LET models are 'mcnamara' and 'wedenberg'")


def lq_rbe(dose_per_fraction_gy, rbe_max, rbe_min, alpha_beta_gy) -> np.ndarray:
    """The LQ RBE at a physical dose per fraction (RBEmax where the dose is 0, its limit)."""
    ab = check_alpha_beta(alpha_beta_gy)
    d = np.asarray(dose_per_fraction_gy, dtype=np.float64)
    rbe_max = np.asarray(rbe_max, dtype=np.float64)
    rbe_min = np.asarray(rbe_min, dtype=np.float64)
    if (d < 0).any():
        raise RbeError(f"a dose per fraction must not be negative, got {float(d.min()):g} Gy")
    root = np.sqrt(ab**2 + 4.0 * d * ab * rbe_max + 4.0 * d**2 * rbe_min**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        rbe = (root - ab) / (2.0 * d)
    return np.where(d > 0, rbe, rbe_max + np.zeros_like(rbe))


def rbe(model: str, dose_per_fraction_gy, let_kev_um=None, alpha_beta_gy=DEFAULT_ALPHA_BETA_GY, *,
        constant: float = CONSTANT_RBE) -> np.ndarray:
    """RBE per voxel: ``constant`` for "constant", else the LQ RBE of the LET model."""
    d = np.asarray(dose_per_fraction_gy, dtype=np.float64)
    if model == "constant":
        if not (np.isfinite(constant) and constant > 0):
            raise RbeError(f"a constant RBE must be a positive number, got {constant!r}")
        return np.full(d.shape, float(constant))
    if model not in RBE_MODELS:
        raise RbeError(f"RBE model {model!r} is not one of {', '.join(RBE_MODELS)}")
    if let_kev_um is None:
        raise RbeError(f"the {model} RBE model needs the LETd of the dose (score LET in the job)")
    let = np.nan_to_num(np.asarray(let_kev_um, dtype=np.float64), nan=0.0)
    if let.shape != d.shape:
        raise RbeError(f"LETd has shape {let.shape}, the dose {d.shape}; they must be on one grid")
    rbe_max, rbe_min = rbe_max_min(model, let, alpha_beta_gy)
    return lq_rbe(d, rbe_max, rbe_min, alpha_beta_gy)


def rbe_weighted_dose(dose_gy, let_kev_um=None, alpha_beta_gy=DEFAULT_ALPHA_BETA_GY, *, model: str = "mcnamara",
                      fractions: int = 1, constant: float = CONSTANT_RBE) -> np.ndarray:
    """RBE x physical dose per voxel, in Gy(RBE), with the same shape as ``dose_gy``.

    ``dose_gy`` is the dose of ``fractions`` equal fractions (1: one fraction, what the engine scores
    for a DICOM plan); the LQ RBE is taken at the dose per fraction ``dose_gy / fractions``.
    """
    if isinstance(fractions, bool) or not isinstance(fractions, (int, np.integer)) or fractions < 1:
        raise RbeError(f"the number of fractions must be a positive whole number, got {fractions!r}")
    d = np.asarray(dose_gy, dtype=np.float64)
    return rbe(model, d / fractions, let_kev_um, alpha_beta_gy, constant=constant) * d


def alpha_beta_map(shape: tuple[int, ...], masks: Mapping[str, StructureMask], alpha_beta_by_structure:
                   Mapping[str, float], default_gy: float = DEFAULT_ALPHA_BETA_GY) -> np.ndarray:
    """Alpha/beta per voxel: ``default_gy`` everywhere, and each listed structure's value where at least half a
    voxel is inside it.  Where structures overlap the one listed first wins (list targets before organs)."""
    check_alpha_beta(default_gy, "the default alpha/beta")
    out = np.full(shape, float(default_gy))
    assigned = np.zeros(shape, bool)
    names = {n.lower(): n for n in masks}
    for structure, value in alpha_beta_by_structure.items():
        check_alpha_beta(value, f"alpha/beta of {structure!r}")
        key = structure if structure in masks else names.get(structure.lower())
        if key is None:
            raise RbeError(f"alpha/beta given for {structure!r}, but there is no such structure; there are "
                           f"{', '.join(sorted(masks)) or 'none'}")
        fraction = masks[key].fraction
        if fraction.shape != tuple(shape):
            raise RbeError(f"structure {key!r} is on a grid of shape {fraction.shape}, the dose {tuple(shape)}")
        inside = (fraction >= MASK_INSIDE) & ~assigned
        out[inside] = float(value)
        assigned |= inside
    return out
