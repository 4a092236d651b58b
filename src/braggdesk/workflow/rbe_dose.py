"""The RBE-weighted dose of a result, one way for the GUI's views, ``braggdesk run --rbe`` and ``bd.rbe_weighted``.

Why a workflow module: the formulas live in analysis/rbe.py; what a physicist chooses around them (the
model, a default alpha/beta, values per structure, the number of fractions the dose stands for) is a
setting that the views, the DVHs, the exports and the command line must all read the same way, so a
dose written as an EFFECTIVE RTDOSE equals the one the workstation showed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..analysis.rbe import (CONSTANT_RBE, DEFAULT_ALPHA_BETA_GY, RBE_MODELS, RbeError, alpha_beta_map,
                            check_alpha_beta, rbe_weighted_dose)
from ..model import DoseResult, StructureMask

MODEL_LABELS = {"constant": "constant 1.1", "mcnamara": "McNamara 2015", "wedenberg": "Wedenberg 2013"}


@dataclass(frozen=True)
class RbeSettings:
    """What an RBE-weighted dose depends on besides the dose and LETd.

    ``fractions``: how many fractions the dose stands for (1: the dose is one fraction's, as the engine
    scores a DICOM plan); the LQ RBE is taken at the dose per fraction.
    """

    model: str = "mcnamara"
    alpha_beta_gy: float = DEFAULT_ALPHA_BETA_GY
    alpha_beta_by_structure: tuple[tuple[str, float], ...] = field(default_factory=tuple)
    fractions: int = 1
    constant: float = CONSTANT_RBE

    def __post_init__(self) -> None:
        if self.model not in RBE_MODELS:
            raise RbeError(f"RBE model {self.model!r} is not one of {', '.join(RBE_MODELS)}")
        check_alpha_beta(self.alpha_beta_gy, "the default alpha/beta")
        for name, value in self.alpha_beta_by_structure:
            check_alpha_beta(value, f"alpha/beta of {name!r}")
        if isinstance(self.fractions, bool) or not isinstance(self.fractions, (int, np.integer)) \
                or self.fractions < 1:
            raise RbeError(f"the number of fractions must be a positive whole number, got {self.fractions!r}")

    @property
    def needs_let(self) -> bool:
        return self.model != "constant"

    def describe(self) -> str:
        """One line for a plot title, a report row or an RTDOSE comment."""
        if self.model == "constant":
            return f"RBE {self.constant:g} (constant)"
        per = "".join(f", {n} {v:g}" for n, v in self.alpha_beta_by_structure)
        frac = f", {self.fractions} fractions" if self.fractions != 1 else ""
        return f"RBE {MODEL_LABELS[self.model]}, alpha/beta {self.alpha_beta_gy:g} Gy{per}{frac}"


def parse_structure_alpha_beta(items: Iterable[str]) -> tuple[tuple[str, float], ...]:
    """``["Rectum=3", "PTV=10"]`` (or one string "Rectum=3, PTV=10") as ((name, Gy), ...), in the order given."""
    out = []
    for item in items:
        for part in item.replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, value = part.rpartition("=")
            try:
                gy = float(value) if sep and name.strip() else None
            except ValueError:
                gy = None
            if gy is None:
                raise RbeError(f"alpha/beta per structure must read NAME=GY, got {part!r}")
            out.append((name.strip(), gy))
    return tuple(out)


def rbe_weighted_gy(dose_gy: np.ndarray, let_kev_um: np.ndarray | None, settings: RbeSettings,
                    masks: Sequence[StructureMask] = ()) -> np.ndarray:
    """RBE x dose per voxel in Gy(RBE), float32 on the dose's grid; ``masks`` carry the structures that
    ``settings.alpha_beta_by_structure`` names (a name that no mask has is refused)."""
    dose = np.asarray(dose_gy)
    if settings.needs_let and let_kev_um is None:
        raise RbeError(f"the {MODEL_LABELS[settings.model]} RBE model needs LETd, and this dose has none "
                       f"(an imported dose): choose the constant RBE")
    if settings.alpha_beta_by_structure:
        by_name: Mapping[str, StructureMask] = {m.name: m for m in masks}
        alpha_beta = alpha_beta_map(dose.shape, by_name, dict(settings.alpha_beta_by_structure),
                                    settings.alpha_beta_gy)
    else:
        alpha_beta = settings.alpha_beta_gy
    out = rbe_weighted_dose(dose, let_kev_um, alpha_beta, model=settings.model, fractions=int(settings.fractions),
                            constant=settings.constant)
    return out.astype(np.float32)


def rbe_weighted_result(result: DoseResult, settings: RbeSettings,
                        masks: Sequence[StructureMask] = ()) -> np.ndarray:
    """:func:`rbe_weighted_gy` of a Monte Carlo result (its dose and scored LETd)."""
    return rbe_weighted_gy(result.dose_gy, result.let_kev_um, settings, masks)
