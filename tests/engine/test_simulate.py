"""The streaming contract: batches, cancel, target uncertainty, refusals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from braggdesk.engine.device import select_device
from braggdesk.engine.simulate import batch_seed, plan_batches, prepare, simulate
from braggdesk.errors import DeviceError, PlanError
from braggdesk.model import Accumulator, SimulationSettings

from cases import pencil_job, pencil_model, single_spot_plan, water_box

SMALL_CT = dict(size_mm=(40.0, 140.0, 40.0), spacing_mm=(4.0, 4.0, 4.0))


def test_simulate_yields_one_snapshot_per_batch_and_they_add_up():
    job = pencil_job(120.0, primaries=1000, batches=4, ct=water_box(**SMALL_CT))
    snaps = list(simulate(job, device=select_device("cpu", 2)))
    assert sorted(s.batches[0] for s in snaps) == [0, 1, 2, 3]
    assert sum(s.primaries for s in snaps) == 1000
    single = list(simulate(job, device=select_device("cpu", 1)))
    acc_a, acc_b = Accumulator(), Accumulator()
    for s in snaps:
        acc_a.add(s)
    for s in reversed(single):
        acc_b.add(s)
    assert np.array_equal(acc_a.total.energy, acc_b.total.energy)


def test_a_small_first_batch_is_part_of_the_job_and_reproducible():
    settings = SimulationSettings(primaries=1003, batches=4, first_batch_primaries=100)
    assert plan_batches(settings, "cpu") == ([100, 301, 301, 301], None)
    # a first batch no smaller than the others changes nothing
    assert plan_batches(dataclasses.replace(settings, first_batch_primaries=400), "cpu")[0] == [251, 251, 251, 250]
    assert plan_batches(dataclasses.replace(settings, batches=1), "cpu")[0] == [1003]
    with pytest.raises(ValueError, match="first_batch_primaries"):
        SimulationSettings(primaries=10, first_batch_primaries=0)
    job = pencil_job(120.0, primaries=600, batches=3, ct=water_box(**SMALL_CT))
    job.settings = dataclasses.replace(job.settings, first_batch_primaries=50)
    runs = [list(simulate(job, device=select_device("cpu", w))) for w in (1, 2)]
    assert [s.primaries for s in sorted(runs[0], key=lambda s: s.batches)] == [50, 275, 275]
    totals = [sum(r[1:], r[0]) for r in runs]
    assert np.array_equal(totals[0].energy, totals[1].energy)


def test_cancel_stops_between_batches_and_keeps_what_was_done():
    job = pencil_job(120.0, primaries=2000, batches=8, ct=water_box(**SMALL_CT))
    got = []
    for snap in simulate(job, cancel=lambda: len(got) >= 3):
        got.append(snap)
    assert len(got) == 3
    assert sum(s.primaries for s in got) == 750


def test_target_uncertainty_stops_when_reached():
    job = pencil_job(120.0, primaries=1, ct=water_box(**SMALL_CT))
    job.settings = SimulationSettings(primaries=None, target_uncertainty=0.05, primaries_per_batch=500,
                                      device="cpu", seed=3)
    prep = prepare(job)
    acc = Accumulator()
    for snap in simulate(job, prepared=prep):
        acc.add(snap)
    w = prep.scale.per_voxel("water")
    assert acc.total.mean_relative_uncertainty(w) <= 0.05
    # one batch fewer would not have been enough
    assert acc.total.n_batches >= 2


def test_batch_seeds_are_distinct_and_stable():
    seeds = {batch_seed(1, b) for b in range(100)}
    assert len(seeds) == 100
    assert batch_seed(1, 5) == batch_seed(1, 5)


def test_plan_on_another_frame_of_reference_is_refused_unless_ignored():
    job = pencil_job(120.0, primaries=100, ct=water_box(**SMALL_CT))
    job.plan = dataclasses.replace(job.plan, frame_of_reference_uid="9.9.9")
    with pytest.raises(PlanError, match="frame of reference"):
        prepare(job)
    job.ignore_frame_of_reference = True
    assert any("frame of reference ignored" in n for n in prepare(job).notes)


def test_energy_outside_the_beam_model_is_refused():
    job = pencil_job(120.0, primaries=100, ct=water_box(**SMALL_CT), model=pencil_model(energies=(70.0, 100.0)))
    with pytest.raises(PlanError, match="outside the beam model"):
        prepare(job)


def test_spots_that_all_miss_the_ct_are_refused():
    job = pencil_job(120.0, primaries=100, ct=water_box(**SMALL_CT))
    job.plan = single_spot_plan(120.0, isocenter=(500.0, 0.0, 0.0))
    job.plan.frame_of_reference_uid = job.ct.frame_of_reference_uid
    with pytest.raises(PlanError, match="miss the CT"):
        prepare(job)


def test_gpu_request_without_gpu_says_why(monkeypatch):
    import braggdesk.engine.device as device

    monkeypatch.setattr(device, "gpu_status", lambda: (False, "numba-cuda is not installed"))
    with pytest.raises(DeviceError, match="numba-cuda is not installed"):
        select_device("gpu")
    auto = select_device("auto")
    assert auto.kind == "cpu" and "numba-cuda is not installed" in auto.note


@pytest.mark.parametrize("threads", [0, -2, 1.5, True])
def test_a_thread_count_that_cannot_work_is_refused(threads):
    with pytest.raises(DeviceError, match="threads must be a positive whole number"):
        select_device("cpu", threads)
    with pytest.raises(ValueError, match="threads must be a positive whole number"):
        SimulationSettings(threads=threads)


def test_gantry_90_beam_travels_along_minus_x():
    from braggdesk.engine.geometry import beam_frame

    beam = single_spot_plan(120.0).beams[0]
    beam.gantry_angle_deg = 90.0
    frame = beam_frame(beam, "HFS")
    assert np.allclose(frame.direction, [-1, 0, 0], atol=1e-12)
    beam.gantry_angle_deg = 0.0
    frame = beam_frame(beam, "HFS")
    assert np.allclose(frame.direction, [0, 1, 0]) and np.allclose(frame.spot_y_axis, [0, 0, 1])


@pytest.mark.gpu
def test_gpu_agrees_with_the_cpu_statistically():
    from braggdesk.engine.device import gpu_status

    usable, status = gpu_status()
    if not usable:
        pytest.skip(status)
    ct = water_box(size_mm=(40.0, 200.0, 40.0), spacing_mm=(4.0, 2.0, 4.0))
    dd = []
    for device in ("cpu", "gpu"):
        job = pencil_job(150.0, primaries=200_000, batches=2, ct=ct)
        job.settings.device = device
        acc = Accumulator()
        for s in simulate(job):
            acc.add(s)
        dd.append(acc.total.energy_mev().reshape(ct.shape).sum(axis=(0, 2)) / acc.total.primaries)
    peak = dd[0].max()
    assert np.max(np.abs(dd[0] - dd[1])) < 0.02 * peak
