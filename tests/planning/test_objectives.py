"""Each objective kind: gradient against central finite differences, and values against the formulas.

The DVH kinds are piecewise quadratic with kinks where a voxel crosses the reference dose or
D_v; the random doses are checked to stay further than the finite-difference step from every
kink, so the comparison is exact to rounding and a wrong gradient fails it.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from braggdesk.model.objectives import Objective
from braggdesk.planning.objectives import (
    bind_objectives, dose_at_volume, evaluate, objective_value_and_gradient,
)
from braggdesk.planning.optimiser import _Problem

STEP_GY = 1e-6


def _doses(seed: int, n: int = 300) -> np.ndarray:
    """Doses spread over 45..80 Gy in random order, jittered but never tied."""
    rng = np.random.default_rng(seed)
    lattice = np.linspace(45.0, 80.0, n)
    spacing = lattice[1] - lattice[0]
    return rng.permutation(lattice + rng.uniform(-0.3, 0.3, n) * spacing)


def _central_differences(objective: Objective, dose: np.ndarray) -> np.ndarray:
    gradient = np.empty_like(dose)
    for i in range(dose.size):
        up, down = dose.copy(), dose.copy()
        up[i] += STEP_GY
        down[i] -= STEP_GY
        gradient[i] = (objective_value_and_gradient(objective, up)[0]
                       - objective_value_and_gradient(objective, down)[0]) / (2 * STEP_GY)
    return gradient


def _away_from_kinks(dose: np.ndarray, objective: Objective) -> None:
    kinks = [objective.dose_gy]
    if objective.volume_percent is not None:
        kinks.append(dose_at_volume(dose, objective.volume_percent / 100))
    gaps = np.abs(dose[:, None] - np.array(kinks)[None, :])
    gaps = gaps[gaps > 0]  # the voxel that is D_v moves with D_v: not a kink for itself
    assert gaps.min() > 100 * STEP_GY
    assert np.diff(np.sort(dose)).min() > 100 * STEP_GY  # no ties: D_v is one voxel's dose


@pytest.mark.parametrize("objective, penalised_at_least", [
    (Objective("PTV", "min", 66.0, 3.0), 50),
    (Objective("Cord", "max", 60.0, 2.0), 100),
    (Objective("PTV", "uniform", 70.0, 100.0), 300),
    (Objective("Parotid", "mean", 26.0, 5.0), 300),
    (Objective("PTV", "dvh_min", 66.5, 50.0, volume_percent=95.0), 100),
    (Objective("Cord", "dvh_max", 55.0, 7.0, volume_percent=20.0), 100),
], ids=lambda p: p.kind if isinstance(p, Objective) else "")
def test_gradient_matches_central_differences(objective, penalised_at_least):
    dose = _doses(seed=len(objective.kind))
    _away_from_kinks(dose, objective)
    value, gradient = objective_value_and_gradient(objective, dose)
    numeric = _central_differences(objective, dose)
    assert value > 0
    assert np.count_nonzero(gradient) >= penalised_at_least  # the test exercises many voxels
    np.testing.assert_allclose(gradient, numeric, rtol=1e-4, atol=1e-7 * np.abs(numeric).max())


def _value(kind: str, ref_gy: float, weight: float, dose: np.ndarray, volume_percent: float | None = None) -> float:
    return objective_value_and_gradient(Objective("S", kind, ref_gy, weight, volume_percent), dose)[0]


def test_values_follow_the_matrad_formulas():
    dose = np.array([10.0, 20.0, 30.0, 40.0])
    assert _value("min", 25.0, 2.0, dose) == pytest.approx(2 * (15**2 + 5**2) / 4)
    assert _value("max", 25.0, 2.0, dose) == pytest.approx(2 * (5**2 + 15**2) / 4)
    assert _value("uniform", 25.0, 1.0, dose) == pytest.approx((225 + 25 + 25 + 225) / 4)
    assert _value("mean", 20.0, 3.0, dose) == pytest.approx(3 * 5.0**2)
    # the mean objective is an upper bound: nothing below it
    value, gradient = objective_value_and_gradient(Objective("S", "mean", 30.0, 3.0), dose)
    assert value == 0 and not gradient.any()
    # matRad_calcInversDVH: the hottest 50 % of 4 voxels are 40 and 30, so D50 = 30; D1 = the maximum
    assert (dose_at_volume(dose, 0.5), dose_at_volume(dose, 0.01), dose_at_volume(dose, 1.0)) == (30.0, 40.0, 10.0)
    # D50 >= 35: only 30 (between D50 = 30 and 35) is penalised, 10 and 20 are written off
    assert _value("dvh_min", 35.0, 1.0, dose, 50.0) == pytest.approx(25 / 4)
    # D50 = 30 already >= 25: met, zero
    assert _value("dvh_min", 25.0, 1.0, dose, 50.0) == 0
    # V15 <= 50 %: the voxels between 15 Gy and D50 = 30 Gy (20 and 30) are penalised, 40 is written off
    assert _value("dvh_max", 15.0, 1.0, dose, 50.0) == pytest.approx((25 + 225) / 4)
    assert _value("dvh_max", 35.0, 1.0, dose, 50.0) == 0


def test_overlapping_structures_count_in_each_objective():
    dose = _doses(seed=7, n=50)
    rows = {"PTV": np.arange(0, 30), "Cord": np.arange(20, 50)}  # rows 20..29 are in both
    objectives = [Objective("PTV", "uniform", 70.0, 10.0), Objective("Cord", "max", 55.0, 4.0)]
    result = evaluate(bind_objectives(objectives, rows, 50), dose)
    ptv = objective_value_and_gradient(objectives[0], dose[:30])
    cord = objective_value_and_gradient(objectives[1], dose[20:])
    assert result.values == pytest.approx([ptv[0], cord[0]])
    assert result.value == pytest.approx(ptv[0] + cord[0])
    np.testing.assert_allclose(result.gradient[20:30], ptv[1][20:] + cord[1][:10])
    np.testing.assert_allclose(result.gradient[:20], ptv[1][:20])


def test_masks_and_indices_bind_alike_and_unknown_structures_are_named():
    mask = np.zeros(10, dtype=bool)
    mask[[2, 5]] = True
    objective = [Objective("PTV", "uniform", 1.0)]
    assert bind_objectives(objective, {"PTV": mask}, 10)[0].rows.tolist() == [2, 5]
    assert bind_objectives(objective, {"PTV": np.array([5, 2, 5])}, 10)[0].rows.tolist() == [2, 5]
    with pytest.raises(ValueError, match=r"objective 1 \(PTV\): no structure of that name .*\(Body\)"):
        bind_objectives(objective, {"Body": mask}, 10)
    with pytest.raises(ValueError, match="no voxel"):
        bind_objectives(objective, {"PTV": np.zeros(10, dtype=bool)}, 10)
    with pytest.raises(ValueError, match=r"in \[0, 10\)"):
        bind_objectives(objective, {"PTV": np.array([3, 12])}, 10)


def test_the_optimisers_gradient_with_respect_to_spot_weights():
    """Chain rule through the Dij, the fractions and the solver's weight scale."""
    rng = np.random.default_rng(3)
    dij = scipy.sparse.random(80, 12, density=0.4, random_state=4, format="csr", dtype=np.float32) * 0.01
    rows = {"PTV": np.arange(0, 50), "OAR": np.arange(40, 80)}
    objectives = [Objective("PTV", "uniform", 60.0, 10.0), Objective("OAR", "max", 20.0, 3.0),
                  Objective("OAR", "mean", 5.0, 1.0)]
    problem = _Problem(scipy.sparse.csr_matrix(dij), bind_objectives(objectives, rows, 80), fractions=30, scale=150.0)
    x = rng.uniform(0.5, 1.5, 12)
    value, gradient = problem(x)
    step = 1e-6
    numeric = np.array([(problem(x + step * e)[0] - problem(x - step * e)[0]) / (2 * step) for e in np.eye(12)])
    assert value > 0 and np.abs(gradient).max() > 0
    np.testing.assert_allclose(gradient, numeric, rtol=1e-4, atol=1e-6 * np.abs(numeric).max())
