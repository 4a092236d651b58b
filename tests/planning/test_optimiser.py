"""The optimiser on a small synthetic phantom: one beam of Gaussian pencil beams with Bragg-like depth doses.

The phantom is a 2-D slice (lateral x, depth z) with a target and an organ just behind it;
spots on a 4 mm lattice over the target plus a margin, energy layers every 3 mm of range.
A correct optimiser makes the target dose uniform within 3 % with non-negative weights;
a wrong gradient, scaling or fraction convention cannot.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from braggdesk.model.objectives import Objective
from braggdesk.planning.objectives import bind_objectives, evaluate
from braggdesk.planning.optimiser import IterationInfo, optimise, round_to_min_weight, uniform_initial_weights

FRACTIONS = 30
PRESCRIPTION_GY = 60.0
GY_PER_WEIGHT = 1e-3  # per-fraction dose per unit spot weight at the peak: weights come out in the hundreds


def _depth_dose(depth_mm: np.ndarray, range_mm: float) -> np.ndarray:
    """A Bragg-like curve: a slowly rising plateau, a peak at the range, a sharp distal fall-off."""
    plateau = np.where(depth_mm <= range_mm, 0.3 + 0.1 * depth_mm / range_mm, 0.0)
    peak = np.where(depth_mm <= range_mm, np.exp(-((depth_mm - range_mm) / 4.0) ** 2),
                    1.4 * np.exp(-((depth_mm - range_mm) / 2.0) ** 2))
    return plateau + peak


@pytest.fixture(scope="module")
def phantom():
    x_mm, z_mm = np.meshgrid(np.arange(-30.0, 31.0, 2.0), np.arange(0.0, 101.0, 2.0), indexing="ij")
    x_mm, z_mm = x_mm.ravel(), z_mm.ravel()
    columns = []
    for spot_x in np.arange(-20.0, 21.0, 4.0):
        lateral = np.exp(-0.5 * ((x_mm - spot_x) / 4.0) ** 2)
        for range_mm in np.arange(38.0, 73.0, 3.0):
            column = GY_PER_WEIGHT * lateral * _depth_dose(z_mm, range_mm)
            column[column < 1e-4 * GY_PER_WEIGHT] = 0.0  # sparse, as the engine scores it
            columns.append(column)
    dij = scipy.sparse.csr_matrix(np.stack(columns, axis=1).astype(np.float32))
    target = (np.abs(x_mm) <= 14) & (z_mm >= 40) & (z_mm <= 66)
    organ = (np.abs(x_mm) <= 10) & (z_mm >= 72) & (z_mm <= 90)
    return dij, {"PTV": target, "Rectum": organ}


OBJECTIVES = [
    Objective("PTV", "uniform", PRESCRIPTION_GY, 100.0),
    Objective("Rectum", "max", 0.2 * PRESCRIPTION_GY, 5.0),
]


@pytest.fixture(scope="module")
def free(phantom):
    """The plan without a minimum weight, shared by the tests that read it."""
    dij, rows = phantom
    return optimise(dij, rows, OBJECTIVES, fractions=FRACTIONS, max_iterations=300)


def _target_dose(result, rows):
    return result.dose_gy[rows["PTV"]]


def test_target_dose_is_uniform_within_3_percent(phantom, free):
    dij, rows = phantom
    result = free
    dose = _target_dose(result, rows)
    assert np.all(result.weights >= 0) and result.active_spots > 20
    assert abs(dose.mean() / PRESCRIPTION_GY - 1) < 0.01
    assert dose.min() >= 0.97 * PRESCRIPTION_GY and dose.max() <= 1.03 * PRESCRIPTION_GY, (dose.min(), dose.max())
    # the total dose is fractions times the per-fraction dose of the weights
    np.testing.assert_allclose(result.dose_gy, FRACTIONS * (dij @ result.weights), rtol=1e-6)
    # the organ behind the target is spared: the distal fall-off is used, not overshot
    assert np.mean(result.dose_gy[rows["Rectum"]]) < 0.2 * PRESCRIPTION_GY
    assert result.objective_value < 0.01 * result.history[0]
    assert result.iterations == len(result.history) and not result.stopped and result.elapsed_s > 0
    assert result.objective_labels == [o.label for o in OBJECTIVES]


def test_initial_weights_give_the_prescription_on_average(phantom):
    dij, rows = phantom
    start = uniform_initial_weights(dij, np.flatnonzero(rows["PTV"]), PRESCRIPTION_GY, FRACTIONS)
    assert np.ptp(start[start > 0]) == 0
    assert FRACTIONS * np.mean((dij @ start)[rows["PTV"]]) == pytest.approx(PRESCRIPTION_GY)


def test_rounding_to_the_minimum_weight():
    weights = np.array([0.0, 0.4, 0.5, 0.9, 1.0, 3.0])
    rounded, keep = round_to_min_weight(weights, 1.0)
    assert rounded.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0, 3.0]
    assert keep.tolist() == [False, False, True, True, True, True]
    rounded, keep = round_to_min_weight(np.array([0.1, 0.3, 0.2]), 1.0)  # all too weak: the strongest stays
    assert rounded.tolist() == [0.0, 1.0, 0.0]


def test_a_small_minimum_weight_keeps_the_plan_uniform(phantom, free):
    dij, rows = phantom
    min_weight = 0.5 * float(np.median(free.weights[free.weights > 0]))
    result = optimise(dij, rows, OBJECTIVES, fractions=FRACTIONS, max_iterations=300, min_weight=min_weight)
    positive = result.weights[result.weights > 0]
    assert positive.min() >= min_weight * (1 - 1e-9) and result.spots_raised > 5
    assert result.min_weight == min_weight and result.message.startswith("min_weight:")
    dose = _target_dose(result, rows)
    assert dose.min() >= 0.97 * PRESCRIPTION_GY and dose.max() <= 1.03 * PRESCRIPTION_GY, (dose.min(), dose.max())


def test_a_large_minimum_weight_drops_spots_and_reoptimises_the_rest(phantom, free):
    """Rounding alone overdoses; the re-optimisation with the new bounds wins much of it back."""
    dij, rows = phantom
    min_weight = 0.7 * float(np.median(free.weights[free.weights > 0]))
    result = optimise(dij, rows, OBJECTIVES, fractions=FRACTIONS, max_iterations=300, min_weight=min_weight)
    positive = result.weights[result.weights > 0]
    assert positive.min() >= min_weight * (1 - 1e-9)
    assert result.spots_dropped >= 1 and result.spots_raised > 5
    assert result.active_spots == free.active_spots - result.spots_dropped
    rounded, _ = round_to_min_weight(free.weights, min_weight)
    rounded_value = evaluate(bind_objectives(OBJECTIVES, rows, dij.shape[0]), FRACTIONS * (dij @ rounded)).value
    assert result.objective_value < 0.75 * rounded_value


def test_callback_streams_every_iteration_and_stop_keeps_the_best(phantom):
    dij, rows = phantom
    seen: list[IterationInfo] = []
    result = optimise(dij, rows, OBJECTIVES, fractions=FRACTIONS, callback=seen.append,
                      should_stop=lambda: len(seen) >= 6)
    assert result.stopped and "stopped" in result.message and not result.converged
    assert [info.iteration for info in seen] == [1, 2, 3, 4, 5, 6] and result.iterations == 6
    assert {info.phase for info in seen} == {"optimise"}
    for info in seen:
        np.testing.assert_allclose(info.dose_gy, FRACTIONS * (dij @ info.weights), rtol=1e-6)
        assert info.objective_value == pytest.approx(sum(info.objective_values))
        assert info.best_value <= info.objective_value
    assert result.history == [info.objective_value for info in seen]
    # the best plan so far, not the last one and not the start
    assert result.objective_value <= min(result.history) + 1e-9
    assert result.objective_value < 0.5 * seen[0].objective_value
    seen[-1].weights[:] = -1.0  # the payload is a copy: the result is unaffected
    assert np.all(result.weights >= 0)


def test_stop_with_a_minimum_weight_still_gives_a_deliverable_plan(phantom):
    dij, rows = phantom
    calls = []
    result = optimise(dij, rows, OBJECTIVES, fractions=FRACTIONS, min_weight=200.0,
                      callback=calls.append, should_stop=lambda: len(calls) >= 3)
    assert result.stopped and result.iterations == 3
    positive = result.weights[result.weights > 0]
    assert positive.size and positive.min() >= 200.0


def test_bad_requests_name_the_problem(phantom):
    dij, rows = phantom
    with pytest.raises(ValueError, match=r"objective 2 \(Cord\): no structure of that name"):
        optimise(dij, rows, [OBJECTIVES[0], Objective("Cord", "max", 45.0, 1.0)], fractions=FRACTIONS)
    nowhere = {"PTV": np.zeros(dij.shape[0], dtype=bool), "Rectum": rows["Rectum"]}
    nowhere["PTV"][-1] = True  # the deepest corner voxel, beyond every spot's range
    assert dij[nowhere["PTV"]].nnz == 0
    with pytest.raises(ValueError, match="no spot gives dose to the targets"):
        optimise(dij, nowhere, OBJECTIVES, fractions=FRACTIONS)
    with pytest.raises(ValueError, match="initial_weights"):
        optimise(dij, rows, OBJECTIVES, fractions=FRACTIONS, initial_weights=-np.ones(dij.shape[1]))
