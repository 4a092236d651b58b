"""What a robustness evaluation reports from scenario doses: goals per scenario, worst cases, bands, envelopes.

Pure: a dose per scenario (all on one grid, the structures' grid) in, numbers and arrays out.

* each clinical goal in each scenario (:func:`braggdesk.analysis.clinical_goals.evaluate_goals`),
  and per goal the worst scenario: the one with the smallest margin (a NaN value is worst);
* voxel-wise minimum and maximum dose over the scenarios;
* DVH bands: per structure, the cumulative DVH (% of the structure) of every scenario on common
  dose bins, and its minimum and maximum over the scenarios at each bin, with the nominal curve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from braggdesk.model import StructureMask
from braggdesk.model.clinical_goals import ClinicalGoal

from .clinical_goals import GoalResult, evaluate_goals
from .dvh import compute_dvh

DVH_BAND_BINS = 200


@dataclass
class GoalAcrossScenarios:
    """One goal in every scenario; ``worst`` names the scenario with the smallest margin."""

    goal: ClinicalGoal
    results: dict[str, GoalResult]  # scenario name -> result
    worst: str

    @property
    def met_in_all(self) -> bool:
        return all(r.met for r in self.results.values())

    def as_dict(self) -> dict:
        g = self.goal
        return {"goal": g.label, "structure": g.structure, "metric": g.metric, "comparison": g.comparison,
                "threshold": g.threshold, "unit": g.threshold_unit, "met_in_all_scenarios": self.met_in_all,
                "scenarios_missed": [n for n, r in self.results.items() if not r.met],
                "worst_scenario": self.worst, "worst_value": _num(self.results[self.worst].value),
                "worst_margin": _num(self.results[self.worst].margin),
                "per_scenario": {n: {"value": _num(r.value), "met": r.met, "margin": _num(r.margin)}
                                 for n, r in self.results.items()}}


@dataclass
class DvhBand:
    """Cumulative DVHs of one structure over the scenarios: volume in % at each ``dose_gy`` bin edge."""

    structure: str
    dose_gy: np.ndarray
    min_percent: np.ndarray
    max_percent: np.ndarray
    nominal_percent: np.ndarray | None
    worst_width_percent: float  # the widest the band gets

    def as_dict(self) -> dict:
        return {"structure": self.structure, "dose_gy": _rounded(self.dose_gy, 4),
                "min_percent": _rounded(self.min_percent, 3), "max_percent": _rounded(self.max_percent, 3),
                "nominal_percent": None if self.nominal_percent is None else _rounded(self.nominal_percent, 3),
                "max_band_width_percent": round(float(self.worst_width_percent), 3)}


def dose_envelope(doses: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Voxel-wise minimum and maximum over the scenario doses (all of one shape)."""
    arrays = list(doses.values())
    if not arrays:
        raise ValueError("no scenario doses to take an envelope of")
    shape = arrays[0].shape
    for name, d in doses.items():
        if d.shape != shape:
            raise ValueError(f"scenario {name!r} has a dose of shape {d.shape}, the first one {shape}")
    low = np.array(arrays[0], dtype=np.float32, copy=True)
    high = low.copy()
    for d in arrays[1:]:
        np.minimum(low, d, out=low)
        np.maximum(high, d, out=high)
    return low, high


def goals_across_scenarios(doses: Mapping[str, np.ndarray], masks: Mapping[str, StructureMask],
                           goals: Sequence[ClinicalGoal]) -> list[GoalAcrossScenarios]:
    """Each goal in each scenario, and its worst scenario (smallest margin; NaN values first)."""
    per_scenario = {name: evaluate_goals(d, masks, goals) for name, d in doses.items()}
    out = []
    for i, goal in enumerate(goals):
        results = {name: res[i] for name, res in per_scenario.items()}
        worst = min(results, key=lambda n: (np.isfinite(results[n].margin), results[n].margin))
        out.append(GoalAcrossScenarios(goal, results, worst))
    return out


def dvh_bands(doses: Mapping[str, np.ndarray], masks: Mapping[str, StructureMask], *, nominal: str = "nominal",
              bins: int = DVH_BAND_BINS) -> list[DvhBand]:
    """Per structure (with a volume), the min / max cumulative DVH over the scenarios on ``bins`` common bins."""
    top = max(float(np.max(d)) for d in doses.values()) if doses else 0.0
    bin_gy = max(top, 1e-9) * 1.0001 / bins
    out = []
    for name, mask in masks.items():
        if mask.volume_cm3 <= 0:
            continue
        curves = {}
        for scenario, d in doses.items():
            dvh = compute_dvh(d, mask.fraction, mask.grid.voxel_volume_cm3, name=name, bin_gy=bin_gy,
                              max_dose_gy=bin_gy * bins)
            curves[scenario] = dvh.cumulative_percent[:bins + 1]
            edges = dvh.bin_edges_gy[:bins + 1]
        stack = np.stack(list(curves.values()))
        low, high = stack.min(axis=0), stack.max(axis=0)
        out.append(DvhBand(name, edges, low, high, curves.get(nominal), float(np.max(high - low))))
    return out


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _rounded(a: np.ndarray, digits: int) -> list[float]:
    return [round(float(v), digits) for v in a]
