"""Spot-weight optimisation: non-negative weights that minimise the weighted objectives.

Conventions, chosen once here:

- **Weights are per fraction** (what an RT Ion Plan delivers each day: MU or the Dij's unit of
  spot weight); **doses are total**: the dose the objectives see is ``fractions * dij @ w``, so
  the objective doses are the totals of the prescription ("70 Gy in 35 fractions").
- **Solver**: scipy's L-BFGS-B with bounds [0, inf), the quasi-Newton method matRad uses for
  IMPT (through IPOPT's L-BFGS) and OpenTPS offers; the gradient is
  ``fractions * dij.T @ d value / d dose``.  The solver works on weights divided by the
  starting weight scale, so its variables are near 1 whatever the Dij's unit.
- **Start**: uniform weights scaled so that the mean target dose is the prescription
  (matRad_fluenceOptimization.m does the same); spots that put no dose in any voxel of the
  Dij start at zero.
- **Minimum weight per spot** (a machine's minimum MU), honoured after convergence the way
  treatment planning systems do it: a spot below half the minimum is dropped (fixed at zero),
  one at or above half of it is kept and raised to the minimum, and a short re-optimisation
  then runs with bounds [min, inf) for the kept spots and [0, 0] for the dropped ones, so the
  other spots make up for the rounding.
- **Streaming and stopping**: ``callback(IterationInfo)`` after every iteration, then
  ``should_stop()``; when it says yes the result keeps the best weights evaluated so far (with
  the minimum weight applied by rounding alone, so the plan is still deliverable) and says it
  was stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize
import scipy.sparse

from ..model.objectives import TARGET_KINDS, Objective
from .objectives import Evaluation, ObjectiveTerm, as_rows, bind_objectives, evaluate

PHASES = ("optimise", "min_weight")


@dataclass
class IterationInfo:
    """One solver iteration, as the GUI and CLI stream it (arrays are copies, safe to keep)."""

    iteration: int  # counted from 1 over both phases
    phase: str  # "optimise", then "min_weight" for the re-optimisation with the minimum weight
    objective_value: float
    objective_values: list[float]  # one per objective, in the order given
    weights: np.ndarray  # per-fraction spot weights
    dose_gy: np.ndarray  # total dose on the Dij's rows (voxels of interest)
    best_value: float  # the lowest objective value evaluated so far in this phase
    elapsed_s: float


@dataclass
class OptimisationResult:
    """The optimised plan and how the optimiser got there."""

    weights: np.ndarray  # per-fraction spot weights, >= 0, each zero or >= min_weight
    dose_gy: np.ndarray  # total dose on the Dij's rows for ``weights``
    objective_value: float
    objective_values: list[float]  # one per objective, in the order given
    objective_labels: list[str]
    initial_weights: np.ndarray
    history: list[float] = field(default_factory=list)  # objective value after each iteration
    iterations: int = 0  # both phases together
    evaluations: int = 0  # objective and gradient evaluations, line searches included
    converged: bool = False  # the solver met its tolerance (in the last phase it ran)
    stopped: bool = False  # the user stopped it; ``weights`` are the best seen until then
    message: str = ""
    elapsed_s: float = 0.0
    min_weight: float = 0.0
    spots_dropped: int = 0  # spots set to zero because they were below half the minimum weight
    spots_raised: int = 0  # spots raised to the minimum weight

    @property
    def active_spots(self) -> int:
        return int(np.count_nonzero(self.weights))


class _Stop(Exception):
    """Raised from the solver's callback when the planner asks to stop."""


class _Problem:
    """The objective in the solver's scaled variables ``x = w / scale``, remembering the best point."""

    def __init__(self, dij: scipy.sparse.csr_matrix, terms: Sequence[ObjectiveTerm], fractions: int, scale: float):
        # float64 CSR copies made once: scipy multiplies a float32 matrix by a float64 vector by converting the
        # matrix on every call (about 3x slower on a 20-million-entry head-and-neck Dij)
        self.dij = scipy.sparse.csr_matrix(dij, dtype=np.float64)
        self.dij_t = self.dij.T.tocsr()  # one transpose, reused by every gradient
        self.terms = terms
        self.dose_per_x = fractions * scale  # total dose = dose_per_x * dij @ x
        self.scale = scale
        self.evaluations = 0
        self.last: tuple[np.ndarray, np.ndarray, Evaluation] | None = None
        self.reset_best()

    def reset_best(self) -> None:
        self.best_value = np.inf
        self.best_x: np.ndarray | None = None

    def dose(self, x: np.ndarray) -> np.ndarray:
        return self.dose_per_x * (self.dij @ x)

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        self.evaluations += 1
        dose = self.dose(x)
        result = evaluate(self.terms, dose)
        self.last = (x.copy(), dose, result)
        if result.value < self.best_value:
            self.best_value, self.best_x = result.value, x.copy()
        return result.value, self.dose_per_x * (self.dij_t @ result.gradient)

    def at(self, x: np.ndarray) -> tuple[np.ndarray, Evaluation]:
        """Dose and evaluation at ``x``, from the last call when the solver evaluated it there."""
        if self.last is not None and np.array_equal(self.last[0], x):
            return self.last[1], self.last[2]
        dose = self.dose(x)
        return dose, evaluate(self.terms, dose, gradient=False)


def optimise(
    dij: scipy.sparse.spmatrix,
    structure_rows: Mapping[str, np.ndarray],
    objectives: Sequence[Objective],
    *,
    fractions: int,
    prescription_gy: float | None = None,
    targets: Sequence[str] | None = None,
    initial_weights: np.ndarray | None = None,
    min_weight: float = 0.0,
    max_iterations: int = 200,
    min_weight_iterations: int = 50,
    callback: Callable[[IterationInfo], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> OptimisationResult:
    """Optimise the per-fraction spot weights for ``objectives`` on the dose ``fractions * dij @ w``.

    ``dij``: (voxels of interest, spots), dose in Gy per unit spot weight for one fraction.
    ``structure_rows``: per structure, a boolean mask over the Dij's rows or row indices.
    ``prescription_gy`` and ``targets`` set the starting weights; by default the targets are the
    structures with min, uniform or dvh_min objectives and the prescription the highest dose of
    those objectives.  ``min_weight`` is in the units of the weights (per fraction).
    Raises ValueError for an objective on a structure the Dij lacks, or a Dij that gives the
    targets no dose.
    """
    started = time.perf_counter()
    matrix = scipy.sparse.csr_matrix(dij)
    n_rows, n_spots = matrix.shape
    if isinstance(fractions, bool) or not isinstance(fractions, (int, np.integer)) or fractions < 1:
        raise ValueError(f"fractions must be a whole number >= 1, got {fractions!r}")
    if not np.isfinite(min_weight) or min_weight < 0:
        raise ValueError(f"min_weight must be >= 0, got {min_weight!r}")
    if n_spots == 0:
        raise ValueError("the Dij has no spot (no column)")
    terms = bind_objectives(objectives, structure_rows, n_rows)
    if initial_weights is None:
        start = uniform_initial_weights(matrix, _target_rows(terms, structure_rows, targets, n_rows),
                                        _prescription(objectives, targets, prescription_gy), fractions)
    else:
        start = np.asarray(initial_weights, dtype=np.float64).copy()
        if start.shape != (n_spots,) or not np.all(np.isfinite(start)) or np.any(start < 0):
            raise ValueError(f"initial_weights must be {n_spots} finite non-negative numbers, got shape {start.shape}")
    positive = start[start > 0]
    scale = float(positive.mean()) if positive.size else 1.0
    problem = _Problem(matrix, terms, int(fractions), scale)
    run = _Run(problem, callback, should_stop, started)

    x = run.solve(start / scale, [(0.0, None)] * n_spots, max_iterations, "optimise")
    dropped = raised = 0
    if min_weight > 0:
        weights = x * scale
        rounded, keep = round_to_min_weight(weights, min_weight)
        dropped = int(np.count_nonzero(~keep & (weights > 0)))
        raised = int(np.count_nonzero(keep & (weights < min_weight)))
        x = rounded / scale
        if not run.stopped and min_weight_iterations > 0:
            bounds = [(min_weight / scale, None) if k else (0.0, 0.0) for k in keep]
            problem.reset_best()
            x = run.solve(x, bounds, min_weight_iterations, "min_weight")
    weights = np.maximum(x * scale, 0.0)
    dose, final = problem.at(x)
    return OptimisationResult(
        weights=weights, dose_gy=dose.copy(), objective_value=final.value, objective_values=list(final.values),
        objective_labels=[o.label for o in objectives], initial_weights=start, history=run.history,
        iterations=run.iteration, evaluations=problem.evaluations, converged=run.converged, stopped=run.stopped,
        message=run.message, elapsed_s=time.perf_counter() - started, min_weight=float(min_weight),
        spots_dropped=dropped, spots_raised=raised,
    )


class _Run:
    """Drives L-BFGS-B through the phases: iteration count, history, streaming and the stop request."""

    def __init__(self, problem: _Problem, callback: Callable[[IterationInfo], None] | None,
                 should_stop: Callable[[], bool] | None, started: float):
        self.problem = problem
        self.callback = callback
        self.should_stop = should_stop
        self.started = started
        self.iteration = 0
        self.history: list[float] = []
        self.stopped = False
        self.converged = False
        self.message = ""

    def solve(self, x0: np.ndarray, bounds: list[tuple[float, float | None]], max_iterations: int,
              phase: str) -> np.ndarray:
        """Minimise from ``x0``; the best point evaluated, whether the solver finished or was stopped."""
        if self.should_stop is not None and self.should_stop():
            self.stopped, self.message = True, f"stopped by the user before the {phase} phase"
            return x0
        self.problem(x0)  # the starting point counts as seen, so a stop at once keeps it

        def after_iteration(xk: np.ndarray) -> None:
            self.iteration += 1
            dose, evaluation = self.problem.at(xk)
            self.history.append(evaluation.value)
            if self.callback is not None:
                self.callback(IterationInfo(
                    iteration=self.iteration, phase=phase, objective_value=evaluation.value,
                    objective_values=list(evaluation.values), weights=xk * self.problem.scale,
                    dose_gy=dose.copy(), best_value=float(self.problem.best_value),
                    elapsed_s=time.perf_counter() - self.started,
                ))
            if self.should_stop is not None and self.should_stop():
                raise _Stop

        try:
            found = scipy.optimize.minimize(
                self.problem, x0, jac=True, method="L-BFGS-B", bounds=bounds, callback=after_iteration,
                options={"maxiter": max(int(max_iterations), 1)},
            )
        except _Stop:
            self.stopped, self.converged = True, False
            self.message = f"stopped by the user after iteration {self.iteration} ({phase} phase)"
            return self.problem.best_x
        self.converged = bool(found.success)
        self.message = f"{phase}: {found.message}"
        # L-BFGS-B returns its last iterate; a line search may have evaluated a better point on the way
        return self.problem.best_x if self.problem.best_value < found.fun else found.x


def round_to_min_weight(weights: np.ndarray, min_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """Deliverable weights: below half the minimum to zero, the rest at least the minimum; and which were kept.

    Half the minimum is where rounding to zero or up to the minimum changes the spot's dose
    least.  If every spot is below it, the strongest is kept, so the plan still delivers dose.
    """
    keep = weights >= 0.5 * min_weight
    if min_weight > 0 and not keep.any() and weights.size:
        keep[int(np.argmax(weights))] = True
    return np.where(keep, np.maximum(weights, min_weight), 0.0), keep


def uniform_initial_weights(dij: scipy.sparse.spmatrix, target_rows: np.ndarray, prescription_gy: float,
                            fractions: int) -> np.ndarray:
    """Equal weights on the spots that reach a voxel of the Dij, scaled so the mean target dose is the prescription."""
    matrix = scipy.sparse.csr_matrix(dij)
    reaches = np.zeros(matrix.shape[1], dtype=bool)
    reaches[matrix.indices[matrix.data != 0]] = True  # without copying the matrix
    weights = reaches.astype(np.float64)
    mean_dose = fractions * float(np.mean(matrix[target_rows] @ weights)) if target_rows.size else 0.0
    if not mean_dose > 0:
        raise ValueError("no spot gives dose to the targets: check the beams and the targets' voxels in the Dij")
    return weights * (prescription_gy / mean_dose)


def _prescription(objectives: Sequence[Objective], targets: Sequence[str] | None,
                  prescription_gy: float | None) -> float:
    if prescription_gy is not None:
        if not np.isfinite(prescription_gy) or prescription_gy <= 0:
            raise ValueError(f"prescription_gy must be > 0 Gy, got {prescription_gy!r}")
        return float(prescription_gy)
    names = set(targets) if targets else None
    doses = [o.dose_gy for o in objectives
             if o.kind in TARGET_KINDS and (names is None or o.structure in names) and o.dose_gy > 0]
    if not doses:
        raise ValueError("no prescription: give prescription_gy, or a min, uniform or dvh_min objective on a target")
    return max(doses)


def _target_rows(terms: Sequence[ObjectiveTerm], structure_rows: Mapping[str, np.ndarray],
                 targets: Sequence[str] | None, n_rows: int) -> np.ndarray:
    if targets:
        missing = [name for name in targets if name not in structure_rows]
        if missing:
            raise ValueError(f"target {missing[0]} is not among the Dij's structures "
                             f"({', '.join(sorted(structure_rows))})")
        rows = [as_rows(name, structure_rows[name], n_rows) for name in targets]
    else:
        rows = [t.rows for t in terms if t.objective.kind in TARGET_KINDS]
    return np.unique(np.concatenate(rows)) if rows else np.zeros(0, dtype=np.int64)
