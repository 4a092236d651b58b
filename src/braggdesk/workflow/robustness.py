"""A robustness evaluation of the open plan: scenarios as Jobs on a runner, then DVH bands and goals per scenario.

Why a workflow module: ``braggdesk robust`` (cli/robust.py) and the GUI's Robustness dock run the same
scenarios (model/scenario.py) through the same code (compute/scenarios.py: one after another on this
machine or a remote node, all at once on a Dask cluster) and evaluate them with analysis/robustness.py;
this module only ties them together for a caller that holds a CT, a plan and structure masks, and lets
it stop between batches.  No Qt: the dock runs :func:`run_robustness` in its worker thread.

Goals, DVH bands and the min / max envelope are evaluated on the course dose (:func:`course_doses`): the
plan's fractions times the Monte Carlo dose of one fraction, as clinical goals are written (a plan's MU,
and so each scenario's run, are one fraction's).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..analysis.clinical_goals import evaluate_goals
from ..analysis.robustness import DvhBand, GoalAcrossScenarios, dose_envelope, dvh_bands, goals_across_scenarios
from ..errors import BraggdeskError
from ..model import DoseResult, Job, StructureMask
from ..model.clinical_goals import ClinicalGoal, GoalError, parse_goal
from ..model.scenario import Scenario


class RobustnessStopped(BraggdeskError):
    """The evaluation was stopped before every scenario finished."""


@dataclass
class ScenarioProgress:
    """One merged batch of one scenario: which scenario, how many scenarios are done, the run's Progress."""

    scenario: str
    done: int
    total: int
    progress: object  # compute.progress.Progress


@dataclass
class RobustnessOutcome:
    scenarios: list[Scenario]
    results: dict[str, DoseResult]  # scenario name -> dose
    bands: list[DvhBand]
    goals: list[GoalAcrossScenarios]
    min_gy: np.ndarray  # voxel-wise minimum and maximum over the scenarios
    max_gy: np.ndarray
    wall_s: float
    where: str
    fractions: int = 1  # the bands, goals and envelope are of the course: this many times a scenario's dose

    @property
    def nominal(self) -> DoseResult:
        """The nominal scenario's run: one fraction's dose."""
        return self.results[self.scenarios[0].name]


def course_doses(results: Mapping[str, DoseResult], fractions: int) -> dict[str, np.ndarray]:
    """Each scenario's course dose: ``fractions`` times its run's dose of one fraction."""
    n = max(int(fractions or 1), 1)
    return {name: r.dose_gy if n == 1 else r.dose_gy * np.float32(n) for name, r in results.items()}


def course_note(fractions: int) -> str | None:
    """What the outputs of a plan of several fractions stand for, in words (None for one fraction)."""
    if int(fractions or 1) <= 1:
        return None
    return (f"doses, goals and DVH bands are the course's: the plan's {int(fractions)} fractions x the Monte Carlo "
            f"dose of one fraction")


def goal_line(goal: ClinicalGoal) -> str:
    """A goal as one line that :func:`parse_goal_lines` reads back (the name, if any, is not kept)."""
    return f"{goal.structure} {goal.metric} {goal.comparison} {goal.threshold:g} {goal.threshold_unit}"


def parse_goal_lines(text: str, prescription_gy: float | None = None) -> list[ClinicalGoal]:
    """One goal per line (``PTV D95% >= 57 Gy``); blank lines and ``#`` comments skipped; GoalError names the line."""
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            out.append(parse_goal(line, prescription_gy=prescription_gy))
        except GoalError as exc:
            raise GoalError(f"line {n}: {exc}") from None
    return out


def check_goals(goals: Sequence[ClinicalGoal], masks: Mapping[str, StructureMask], shape: tuple[int, ...]) -> None:
    """GoalError now (an unknown structure, a metric that cannot be evaluated), not after the runs."""
    if goals:
        evaluate_goals(np.zeros(shape, np.float32), masks, goals)


def run_robustness(job: Job, scenarios: Sequence[Scenario], masks: Mapping[str, StructureMask],
                   goals: Sequence[ClinicalGoal] = (), *, runner_factory: Callable[[Job], object] | None = None,
                   client=None, where: str = "", report: Callable[[ScenarioProgress], None] | None = None,
                   stop: threading.Event | None = None) -> RobustnessOutcome:
    """Every scenario of ``job``: on ``client``'s Dask cluster all at once, else one after another on runners
    from ``runner_factory`` (default: this machine); then the envelope, DVH bands and each goal per scenario.
    ``stop`` (checked after every batch) ends it with :class:`RobustnessStopped`."""
    from ..compute.scenarios import run_scenarios_locally, run_scenarios_on_cluster

    scenarios = list(scenarios)
    check_goals(goals, masks, job.ct.shape)
    finished: set[str] = set()
    lock = threading.Lock()

    def progress(name: str, p) -> None:
        if stop is not None and stop.is_set():
            raise RobustnessStopped("the robustness evaluation was stopped; no scenario doses are kept")
        with lock:
            if p.fraction_done >= 1.0:
                finished.add(name)
            done = len(finished)
        if report is not None:
            report(ScenarioProgress(name, done, len(scenarios), p))

    start = time.perf_counter()
    if client is not None:
        results = run_scenarios_on_cluster(job, scenarios, client, progress=progress)
        where = where or "the Dask cluster, all scenarios at once"
    else:
        results = run_scenarios_locally(job, scenarios, progress=progress, runner_factory=runner_factory)
        where = where or "this computer, one scenario after another"
    wall_s = time.perf_counter() - start
    fractions = int(job.plan.fractions_planned or 1)
    doses = course_doses(results, fractions)
    low, high = dose_envelope(doses)
    return RobustnessOutcome(scenarios, results, dvh_bands(doses, masks, nominal=scenarios[0].name),
                             goals_across_scenarios(doses, masks, list(goals)) if goals else [], low, high, wall_s,
                             where, fractions)
