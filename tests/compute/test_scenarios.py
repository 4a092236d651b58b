"""Robustness scenarios as Jobs: a setup shift moves the dose, a range error moves R80, the standard set of 9."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.compute.scenarios import run_scenarios_locally, scenario_job
from braggdesk.model.scenario import Scenario, ScenarioError, default_scenarios

from cases import pencil_job, water_box


def _run(job, scenarios):
    return run_scenarios_locally(job, scenarios)


def test_the_standard_set_is_nominal_six_shifts_and_two_range_errors():
    s = default_scenarios(shift_mm=3, range_percent=3.5)
    assert len(s) == 9 and s[0].is_nominal and len({x.name for x in s}) == 9
    shifts = sorted(x.shift_mm for x in s[1:7])
    assert shifts == sorted([(3.0, 0, 0), (-3.0, 0, 0), (0, 3.0, 0), (0, -3.0, 0), (0, 0, 3.0), (0, 0, -3.0)])
    assert [x.range_scale for x in s[7:]] == [pytest.approx(1.035), pytest.approx(0.965)]
    assert len(default_scenarios(shift_mm=0, range_percent=2)) == 3


@pytest.mark.parametrize("kwargs, problem", [
    (dict(shift_mm=-3), "setup shift must be a distance of 0 mm or more, got -3"),
    (dict(range_percent=-1), "range error must be a percentage from 0 to 20, got -1"),
    (dict(range_percent=float("nan")), "range error must be a percentage"),
])
def test_bad_scenario_parameters_are_one_line(kwargs, problem):
    with pytest.raises(ScenarioError) as info:
        default_scenarios(**kwargs)
    assert problem in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ScenarioError, match="range_scale"):
        Scenario("bad", range_scale=0.0)


def test_scenario_jobs_move_the_isocentre_and_scale_the_calibration_only():
    job = pencil_job(120.0, primaries=100, ct=water_box(size_mm=(40.0, 60.0, 40.0), spacing_mm=(4.0, 4.0, 4.0)))
    shifted = scenario_job(job, Scenario("x+3", (3.0, 0.0, -1.0)))
    assert shifted.plan.beams[0].isocenter_mm == (-3.0, 0.0, 1.0)
    assert shifted.job_id != job.job_id and shifted.settings.seed == job.settings.seed
    assert job.plan.beams[0].isocenter_mm == (0.0, 0.0, 0.0)  # the nominal job is untouched
    scaled = scenario_job(job, Scenario("r", range_scale=1.035))
    np.testing.assert_allclose(scaled.calibration.density(np.array([0.0])), 1.035)
    np.testing.assert_allclose(job.calibration.density(np.array([0.0])), 1.0)
    assert scaled.plan is job.plan and scaled.ct is job.ct
    # ids stay apart where the names' letters alone would not (workers cache prepared jobs by id)
    ids = {scenario_job(job, s).job_id for s in default_scenarios()}
    assert len(ids) == 9 and job.job_id not in ids


def test_a_shifted_patient_gets_the_nominal_dose_moved_by_the_shift():
    """Patient +3 mm along x: in the patient's frame the pencil beam lands 3 mm towards -x (one 3 mm voxel);
    along the beam (y) a homogeneous phantom's dose does not move with the patient."""
    ct = water_box(size_mm=(36.0, 120.0, 36.0), spacing_mm=(3.0, 4.0, 3.0), surface_y_mm=-20.0)
    job = pencil_job(100.0, primaries=3000, batches=4, ct=ct)
    doses = _run(job, [Scenario("nominal"), Scenario("x+3", (3.0, 0.0, 0.0)), Scenario("y+3", (0.0, 3.0, 0.0))])
    nominal, shifted, along = (doses[k] for k in ("nominal", "x+3", "y+3"))
    d0, dx = nominal.dose_gy.astype(float), shifted.dose_gy.astype(float)
    # lateral centroid of each dose along x (axis 2 of [k, j, i])
    x = nominal.grid.axis_coordinates_mm()[0]
    centroid = lambda d: float((d.sum(axis=(0, 1)) * x).sum() / d.sum())  # noqa: E731
    assert centroid(dx) - centroid(d0) == pytest.approx(-3.0, abs=0.15)
    # voxel by voxel: the scenario's dose at x equals the nominal dose at x + 3 mm, within 3 combined sigma
    moved = d0[:, :, 1:]
    got = dx[:, :, :-1]
    sigma = np.hypot(nominal.uncertainty[:, :, 1:] * moved, shifted.uncertainty[:, :, :-1] * got)
    high = moved > 0.2 * moved.max()
    assert high.sum() > 20
    assert np.mean(np.abs(got - moved)[high] <= 3 * sigma[high] + 1e-12) > 0.97
    # and the unshifted comparison fails: the test can tell a shift from none
    assert np.mean(np.abs(dx - d0)[d0 > 0.2 * d0.max()] <= 3 * sigma.max()) < 0.9
    dy = along.dose_gy.astype(float)
    high0 = d0 > 0.2 * d0.max()
    sig_y = np.hypot(nominal.uncertainty * d0, along.uncertainty * dy)
    assert np.mean(np.abs(dy - d0)[high0] <= 3 * sig_y[high0] + 1e-12) > 0.97


def _r80_mm(depth_mm, dose):
    imax = int(np.argmax(dose))
    d80 = 0.8 * dose[imax]
    j = imax + int(np.argmax(dose[imax:] < d80))
    return depth_mm[j - 1] + (depth_mm[j] - depth_mm[j - 1]) * (dose[j - 1] - d80) / (dose[j - 1] - dose[j])


def test_a_range_scenario_moves_r80_in_water_by_its_percentage_of_the_range():
    ct = water_box(size_mm=(24.0, 100.0, 24.0), spacing_mm=(8.0, 0.5, 8.0), surface_y_mm=-20.0)
    job = pencil_job(100.0, primaries=6000, batches=4, ct=ct)
    doses = _run(job, [Scenario("nominal"), Scenario("range+3.5%", range_scale=1.035),
                       Scenario("range-3.5%", range_scale=0.965)])
    depth = (np.arange(ct.shape[1]) + 0.5) * 0.5
    r80 = {k: _r80_mm(depth, d.dose_gy.astype(float).sum(axis=(0, 2))) for k, d in doses.items()}
    nominal = r80["nominal"]
    assert 70 < nominal < 80  # 100 MeV in water: CSDA range 77.2 mm
    for name, sign in (("range+3.5%", -1), ("range-3.5%", +1)):
        shift = r80[name] - nominal
        # 3.5 % of the range, within 0.3 mm (the exact factor 1/1.035 or 1/0.965 differs from 3.5 % by 0.1 mm)
        assert abs(shift - sign * 0.035 * nominal) < 0.3, (name, shift, 0.035 * nominal)
        scale = 1.035 if sign < 0 else 0.965
        assert r80[name] == pytest.approx(nominal / scale, abs=0.2)
