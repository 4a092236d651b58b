"""What a finished planning session reports: goals, DVH metrics, objectives, the plan and timings.

One dictionary (written as ``goals.json`` by ``braggdesk plan``, shown by the GUI, read by scripts),
with each number on the final Monte Carlo dose and, beside it, on the optimiser's dose from the
matrix, so the difference between the two is visible.  Doses are total doses (all fractions).
"""

from __future__ import annotations

import math

import numpy as np

from ..analysis.clinical_goals import evaluate_goals
from ..analysis.dvh import dvh_of_mask, metrics_of
from ..analysis.resample import resample
from ..model import DoseResult, Volume
from .planning import PlanningSession

#: the volume of a "near-point" maximum: what D0.03cc reports
NEAR_MAX_CM3 = 0.03


def structure_metrics(total_dose_gy: np.ndarray, session: PlanningSession) -> dict[str, dict[str, float]]:
    """Mean, D98, D95, D50, D2, D0.03cc and maximum per structure of the session [Gy]."""
    out = {}
    for name, mask in session.masks.items():
        dvh = dvh_of_mask(total_dose_gy, mask)
        m = metrics_of(dvh)
        out[name] = {"volume_cm3": m.volume_cm3, "mean_gy": m.dmean_gy, "d98_gy": m.d98_gy, "d95_gy": m.d95_gy,
                     "d50_gy": m.d50_gy, "d2_gy": m.d2_gy, "d0_03cc_gy": dvh.dose_at_volume(NEAR_MAX_CM3),
                     "max_gy": m.dmax_gy}
    return out


def plan_summary(session: PlanningSession, final: DoseResult, total_dose_gy: np.ndarray, dij_dose_gy: np.ndarray,
                 timings: dict[str, float], reference: Volume | None = None) -> dict:
    """The session's results as plain data (JSON-ready apart from non-finite floats)."""
    request = session.inputs.request
    plan = session.products.plan
    opt = session.products.optimisation
    dij = session.products.dij
    on_final = evaluate_goals(total_dose_gy, session.masks, session.goals)
    on_dij = evaluate_goals(dij_dose_gy, session.masks, session.goals)
    reference_gy = resample(reference, session.inputs.ct) if reference is not None else None
    on_reference = evaluate_goals(reference_gy, session.masks, session.goals) if reference is not None else None
    goals = []
    for n, (a, b) in enumerate(zip(on_final, on_dij)):
        entry = a.as_dict()
        entry["value_dij"] = b.value
        entry["met_dij"] = b.met
        if on_reference is not None:
            entry["value_reference"] = on_reference[n].value
            entry["met_reference"] = on_reference[n].met
        goals.append(entry)
    summary = {
        "prescription_gy": request.prescription_gy,
        "fractions": request.fractions,
        "targets": session.targets,
        "goals": goals,
        "structures": {"final_mc": structure_metrics(total_dose_gy, session),
                       "optimiser_dij": structure_metrics(dij_dose_gy, session)},
        "objectives": [{"objective": label, "value": value}
                       for label, value in zip(opt.objective_labels, opt.objective_values)],
        "optimiser": {"iterations": opt.iterations, "objective": opt.objective_value, "converged": opt.converged,
                      "stopped": opt.stopped, "message": opt.message, "seconds": opt.elapsed_s,
                      "spots_with_mu": int(opt.active_spots), "spots_dropped": opt.spots_dropped,
                      "spots_raised": opt.spots_raised, "min_mu_per_spot": opt.min_weight},
        "plan": {"beams": [{"name": b.name, "gantry_deg": b.gantry_angle_deg, "couch_deg": b.couch_angle_deg,
                            "isocenter_mm": list(b.isocenter_mm), "layers": len(b.layers), "spots": b.n_spots,
                            "mu_per_fraction": b.total_mu,
                            "energies_mev": [float(b.energies_mev.min()), float(b.energies_mev.max())]}
                           for b in plan.beams],
                 "spots_designed": session.products.designed.n_spots},
        "dij": {"histories_per_spot": int(dij.histories_per_spot.min()),
                "histories_per_spot_first_pass": session.histories_per_spot,
                "target_uncertainty": request.dij_uncertainty, "voxels": dij.n_rows, "spots": dij.n_spots,
                "entries": int(dij.matrix.nnz), "median_spot_uncertainty": _finite_median(dij.spot_uncertainty),
                "mean_spot_uncertainty": _finite_mean(dij.spot_uncertainty)},
        "final_dose": {"primaries": final.primaries, "mean_relative_uncertainty": final.mean_relative_uncertainty,
                       "device": final.device, "dose_to": final.dose_to, "partial": final.partial},
        "timings": dict(timings),
    }
    if reference_gy is not None:
        summary["structures"]["reference"] = structure_metrics(reference_gy, session)
    return summary


def _finite_mean(values: np.ndarray) -> float:
    finite = np.asarray(values, float)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else math.nan


def _finite_median(values: np.ndarray) -> float:
    finite = np.asarray(values, float)
    finite = finite[np.isfinite(finite)]
    return float(np.median(finite)) if finite.size else math.nan
