"""Clinical goals are written for the course: a robustness evaluation of a plan of several fractions evaluates
them on the plan's fractions x each scenario's dose of one fraction, and says so."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

from cases import pencil_job, water_box  # noqa: E402

from braggdesk.model import Roi, StructureMask  # noqa: E402
from braggdesk.model.clinical_goals import parse_goal  # noqa: E402
from braggdesk.model.scenario import Scenario  # noqa: E402
from braggdesk.workflow.robustness import course_note, run_robustness  # noqa: E402


def test_goals_bands_and_envelope_of_a_plan_of_ten_fractions_are_ten_times_one_fractions():
    ct = water_box(size_mm=(40.0, 120.0, 40.0), spacing_mm=(4.0, 4.0, 4.0))
    job = pencil_job(100.0, 3000, batches=1, seed=3, ct=ct)
    fraction = np.zeros(ct.shape, np.float32)
    fraction[:, 5:15, 4:6] = 1.0
    masks = {"Track": StructureMask(Roi(1, "Track"), ct, fraction)}
    goals = [parse_goal("Track Dmax <= 1000 Gy")]
    scenarios = [Scenario("nominal"), Scenario("range+3%", range_scale=1.03)]
    one = run_robustness(job, scenarios, masks, goals)
    ten_job = dataclasses.replace(job, plan=dataclasses.replace(job.plan, fractions_planned=10))
    ten = run_robustness(ten_job, scenarios, masks, goals)
    assert one.fractions == 1 and ten.fractions == 10
    assert np.array_equal(ten.nominal.dose_gy, one.nominal.dose_gy)  # each run: one fraction
    for name in ("nominal", "range+3%"):
        assert ten.goals[0].results[name].value == pytest.approx(10 * one.goals[0].results[name].value, rel=1e-5)
    assert np.allclose(ten.max_gy, 10 * one.max_gy, rtol=1e-6) and np.allclose(ten.min_gy, 10 * one.min_gy, rtol=1e-6)
    assert ten.bands[0].dose_gy.max() > 5 * one.bands[0].dose_gy.max()
    assert course_note(1) is None and "10 fractions" in course_note(10)
