"""The planning session end to end on a water phantom: design, Monte Carlo Dij, optimiser, final MC dose."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from planning_cases import box_roi, cube_case

from braggdesk.compute.local import LocalRunner
from braggdesk.errors import PlanError
from braggdesk.io.rtplan import read_rt_ion_plan
from braggdesk.io.rtplan_writer import write_rt_ion_plan
from braggdesk.model import Job, SimulationSettings, StructureSet
from braggdesk.model.objectives import Objective
from braggdesk.workflow.planning import PlanningInputError, PlanningSession, plan_with_mu


def _final_dose(job: Job):
    runner = LocalRunner(job)
    for _ in runner.run():
        pass
    return runner.result()


@pytest.fixture(scope="module")
def planned():
    """A 30 mm cube planned on 5 mm voxels (1000 histories per spot), its final dose from 10^6 primaries."""
    session = PlanningSession(cube_case([Objective("PTV", "uniform", 2.0, 100.0)], histories_per_spot=1000,
                                        spot_spacing_mm=5.0, layer_spacing_mm=None, spacing_mm=5.0))
    session.design()
    for _ in session.compute_dij(session.dij_computation()):
        pass
    session.optimise()
    final = _final_dose(session.final_job(SimulationSettings(primaries=1_000_000, batches=4, seed=5, device="cpu")))
    return session, final


def test_the_final_monte_carlo_dose_of_a_phantom_plan_is_uniform_within_3_percent(planned):
    session, final = planned
    inside = session.masks["PTV"].fraction >= 0.5
    dose = final.dose_gy[inside]
    assert abs(dose.mean() / 2.0 - 1.0) < 0.02, dose.mean()
    assert dose.std() / dose.mean() < 0.03, dose.std() / dose.mean()
    assert np.percentile(dose, 5) > 0.95 * 2.0  # D95
    # the optimiser's own dose (from the matrix) on the same voxels agrees with the full MC one
    assert abs(session.dij_dose_on_grid()[inside].mean() / dose.mean() - 1.0) < 0.02


def test_the_exported_rt_ion_plan_read_back_and_recalculated_gives_the_final_dose(planned, tmp_path):
    session, final = planned
    inputs = session.inputs
    path = write_rt_ion_plan(session.products.plan, tmp_path / "RP.dcm", ct=inputs.ct, beam_model=inputs.beam_model,
                             structure_set_uid=inputs.structure_set_uid)
    plan = read_rt_ion_plan(path)
    assert plan.n_spots == session.products.plan.n_spots
    np.testing.assert_allclose(np.concatenate([layer.spot_mu for b in plan.beams for layer in b.layers]),
                               np.concatenate([layer.spot_mu for b in session.products.plan.beams
                                               for layer in b.layers]), rtol=1e-6)
    again = _final_dose(Job.create(inputs.ct, plan, inputs.beam_model, inputs.calibration,
                                   SimulationSettings(primaries=1_000_000, batches=4, seed=6, device="cpu")))
    inside = session.masks["PTV"].fraction >= 0.5
    a, b = final.dose_gy[inside], again.dose_gy[inside]
    sigma = np.hypot(final.uncertainty[inside] * a, again.uncertainty[inside] * b)
    assert abs(b.mean() / a.mean() - 1.0) < 3 * np.sqrt(np.mean(sigma**2) / a.size) / a.mean() + 1e-3
    assert np.mean(np.abs(b - a) <= 3 * sigma) > 0.97


def test_a_stopped_optimiser_keeps_the_matrix_and_gives_the_best_plan_so_far(planned):
    session, _ = planned
    dij = session.products.dij
    seen = []
    result = session.optimise(callback=lambda info: seen.append(info.iteration), should_stop=lambda: len(seen) >= 5)
    assert result.stopped and session.products.dij is dij
    assert session.products.plan is not None and session.products.plan.n_spots > 0
    assert result.objective_value == pytest.approx(min(session.products.objective_history), rel=1e-9)


def test_an_objective_on_a_structure_that_does_not_exist_names_the_file_and_entry():
    with pytest.raises(PlanningInputError, match=r"cube.toml: objective 2 \(Cord\): no structure of that name; "
                                                 r"the structure set has PTV, Organ"):
        PlanningSession(cube_case([Objective("PTV", "uniform", 2.0, 1.0), Objective("Cord", "max", 1.0, 1.0)]))


def test_a_target_outside_the_ct_is_refused():
    inputs = cube_case()
    _, _, z = inputs.ct.axis_coordinates_mm()
    far = box_roi(1, "PTV", (500.0, 500.0, -15.0), (530.0, 530.0, 15.0), z)
    inputs = dataclasses.replace(inputs, structures=StructureSet([far, inputs.structures.rois[1]],
                                                                 inputs.structures.frame_of_reference_uid))
    with pytest.raises(PlanningInputError, match=r"structure 'PTV' has no voxel on the CT grid"):
        PlanningSession(inputs)


def test_a_beam_the_models_energies_cannot_bring_to_the_target_is_refused_before_any_monte_carlo():
    inputs = cube_case()
    # keep only the model's energies below 80 MeV (range about 5 cm): the target ends 80 mm deep
    model = inputs.beam_model
    low = np.asarray(model.nominal_energy_mev) < 80.0
    fields = {f.name: getattr(model, f.name) for f in dataclasses.fields(model)}
    for name, value in fields.items():
        if isinstance(value, np.ndarray) and value.shape == low.shape:
            fields[name] = value[low]
    session = PlanningSession(dataclasses.replace(inputs, beam_model=type(model)(**fields)))
    with pytest.raises(PlanError, match=r"cube.toml: beam 'G0' cannot reach the target"):
        session.design()
    assert session.products.dij is None


def test_plan_with_mu_leaves_out_spots_and_layers_without_mu():
    session = PlanningSession(cube_case())
    designed = session.design()
    mu = np.zeros(designed.n_spots)
    first = designed.beams[0].layers[0].n_spots
    mu[:first] = 2.0  # only the first layer
    plan = plan_with_mu(designed, mu)
    assert len(plan.beams[0].layers) == 1 and plan.beams[0].total_mu == pytest.approx(2.0 * first)
    with pytest.raises(PlanError, match="no spot with a positive weight"):
        plan_with_mu(designed, np.zeros(designed.n_spots))


def test_a_ring_around_the_target_is_a_structure_objectives_can_name():
    from braggdesk.model.objectives import Ring

    inputs = cube_case([Objective("PTV", "uniform", 2.0, 100.0), Objective("Ring", "max", 1.8, 10.0)])
    inputs.request.rings = [Ring("Ring", ["PTV"], outer_mm=9.0, inner_mm=3.0)]
    session = PlanningSession(inputs)
    ring = session.masks["Ring"].fraction > 0
    target = session.masks["PTV"].fraction >= 0.5
    assert ring.any() and not (ring & target).any()
    # 3 mm voxels: the shell holds the voxels 6 and 9 mm from the target (3 mm is not "more than 3 mm")
    k, j, i = np.nonzero(target)
    lo, hi = np.array([k.min(), j.min(), i.min()]), np.array([k.max(), j.max(), i.max()])
    along_i = ring[(lo[0] + hi[0]) // 2, (lo[1] + hi[1]) // 2]
    assert list(np.flatnonzero(along_i)) == [lo[2] - 3, lo[2] - 2, hi[2] + 2, hi[2] + 3]
    assert set(np.flatnonzero(ring.reshape(-1))) <= set(session.voxel_index)
    assert session.structure_rows["Ring"].size == int(ring.sum())


def test_a_ring_around_an_unknown_structure_or_named_like_one_is_refused():
    from braggdesk.model.objectives import Ring

    inputs = cube_case()
    inputs.request.rings = [Ring("Ring", ["CTV"], outer_mm=5.0)]
    with pytest.raises(PlanningInputError, match=r"ring 'Ring': no structure 'CTV' to grow it around"):
        PlanningSession(inputs)
    inputs.request.rings = [Ring("Organ", ["PTV"], outer_mm=5.0)]
    with pytest.raises(PlanningInputError, match=r"ring 'Organ': the structure set already has a structure"):
        PlanningSession(inputs)
