"""The dose-influence matrix: spot-resolved batches of the dose kernel, merged exactly, in Gy per MU."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

from cases import pencil_model, single_spot_plan, water_box, water_calibration  # noqa: E402

from braggdesk.compute.local import LocalRunner  # noqa: E402
from braggdesk.engine.device import select_device  # noqa: E402
from braggdesk.engine.dij import blocks, prepare_dij, run_block, simulate_dij  # noqa: E402
from braggdesk.model import Job, SimulationSettings  # noqa: E402
from braggdesk.model.dij import DijBatch  # noqa: E402
from braggdesk.planning.dij import dose_influence  # noqa: E402

SPOTS = ((-12.0, 0.0), (0.0, 0.0), (12.0, 6.0))


def _job(primaries: int = 30_000, mu: float = 1.0) -> Job:
    ct = water_box(size_mm=(60.0, 120.0, 60.0), spacing_mm=(3.0, 3.0, 3.0))
    plan = single_spot_plan(100.0, mu=mu, spots=SPOTS)
    model = pencil_model(sigma_mm=3.0, spread_mev=0.5)
    return Job.create(ct, plan, model, water_calibration(),
                      SimulationSettings(primaries=primaries, batches=3, seed=11, device="cpu"))


def _matrix(job: Job, voxel_index: np.ndarray, per_spot: int):
    prepared = prepare_dij(job, voxel_index, select_device("cpu", None))
    parts = list(simulate_dij(job, voxel_index, per_spot, prepared=prepared))
    sums = DijBatch.merge(parts)
    scale = prepared.prepared.scale.per_voxel("water")
    return prepared, sums, dose_influence(sums, prepared.voxel_index, scale, prepared.protons_per_mu, job.ct.shape)


def test_columns_weighted_by_mu_give_the_plan_dose():
    job = _job(primaries=60_000, mu=2.0)
    n_voxels = int(np.prod(job.ct.shape))
    everywhere = np.arange(n_voxels)
    _, sums, dij = _matrix(job, everywhere, per_spot=20_000)
    assert dij.n_spots == 3 and np.all(dij.histories_per_spot == 20_000)
    from_dij = dij.dose_on_grid(np.full(3, 2.0))
    runner = LocalRunner(job)
    for _ in runner.run():
        pass
    reference = runner.result().dose_gy
    high = reference > 0.5 * reference.max()
    ratio = from_dij[high].sum() / reference[high].sum()
    assert abs(ratio - 1.0) < 0.01, ratio  # both to ~0.3 % over the high-dose region
    assert np.all(dij.spot_uncertainty < 0.05)


def test_only_the_voxels_of_interest_are_scored_and_rows_follow_them():
    job = _job()
    n_voxels = int(np.prod(job.ct.shape))
    wanted = np.arange(0, n_voxels, 7)
    _, sums, dij = _matrix(job, wanted, per_spot=2_000)
    assert dij.n_rows == wanted.size
    assert sums.row.max() < wanted.size
    full = dij.dose_on_grid(np.ones(3)).reshape(-1)
    outside = np.ones(n_voxels, bool)
    outside[wanted] = False
    assert full[outside].max() == 0.0 and full[wanted].max() > 0.0


def test_blocks_merge_exactly_in_any_order_and_refuse_a_block_twice():
    job = _job()
    voxel_index = np.arange(int(np.prod(job.ct.shape)))
    prepared = prepare_dij(job, voxel_index, select_device("cpu", None))
    one = [run_block(prepared, first, n, 500) for first, n in blocks(3, 1)]
    all_at_once = run_block(prepared, 0, 3, 500)
    merged = DijBatch.merge(one[::-1])
    # the spot split changes the random streams (keyed by first spot), not the physics: same shape of sums
    assert merged.n_entries > 0 and all_at_once.n_entries > 0
    again = DijBatch.merge([one[2], one[0], one[1]])
    np.testing.assert_array_equal(merged.energy, again.energy)
    np.testing.assert_array_equal(merged.row, again.row)
    # a block gives the same sums however often it is run (counter-based streams)
    np.testing.assert_array_equal(run_block(prepared, 1, 1, 500).energy, one[1].energy)
    with pytest.raises(ValueError, match="merged twice"):
        DijBatch.merge([one[0], one[0]])
    # a second pass over the same spots (more histories) adds entry by entry
    second = run_block(prepared, 0, 3, 500, pass_index=1)
    both = DijBatch.merge([all_at_once, second])
    assert np.all(both.histories == 1000)
    dense = np.zeros((3, prepared.n_rows), np.int64)
    for part in (all_at_once, second):
        np.add.at(dense, (part.spot, part.row), part.energy)
    np.testing.assert_array_equal(dense[both.spot, both.row], both.energy)
    assert dense.sum() == both.energy.sum()


def test_bad_voxels_of_interest_are_refused():
    job = _job()
    with pytest.raises(Exception, match="no voxels"):
        prepare_dij(job, np.zeros(0, np.int64), select_device("cpu", None))
    with pytest.raises(Exception, match="increasing flat indices"):
        prepare_dij(job, np.array([5, 3]), select_device("cpu", None))


def test_a_matrix_from_a_local_cluster_equals_the_local_one():
    distributed = pytest.importorskip("distributed")
    from braggdesk.compute.dij import DaskDij, LocalDij

    job = _job()
    voxel_index = np.arange(0, int(np.prod(job.ct.shape)), 2)
    local = LocalDij(job, voxel_index, per_spot=20_000)  # blocks of two spots and one on the CPU
    progress = list(local.run())
    assert progress[-1].spots_done == 3 and local.finished
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = DaskDij(job, voxel_index, per_spot=20_000, client=client)
        assert list(remote.run())[-1].spots_done == 3
    a, b = local.result().matrix, remote.result().matrix
    assert a.nnz > 0
    assert (a != b).nnz == 0


def test_a_target_uncertainty_adds_passes_until_the_mean_spot_uncertainty_meets_it():
    from braggdesk.compute.dij import LocalDij
    from braggdesk.planning.dij import mean_spot_uncertainty

    job = _job()
    voxel_index = np.arange(int(np.prod(job.ct.shape)))
    first = LocalDij(job, voxel_index, per_spot=300)
    list(first.run())
    after_one_pass = mean_spot_uncertainty(first.sums())
    target = after_one_pass / 2  # needs about 4x the histories
    dij = LocalDij(job, voxel_index, per_spot=300, target_uncertainty=target)
    progress = list(dij.run())
    assert progress[-1].pass_index >= 1 and dij.finished
    assert dij.uncertainty <= target
    histories = dij.result().histories_per_spot
    assert np.all(histories == histories[0]) and 3.5 * 300 < histories[0] < 6 * 300
    first_pass = [p for p in dij._parts if p.batches[0] < dij.n_spots]  # block ids of pass 0: the first spot
    np.testing.assert_array_equal(DijBatch.merge(first_pass).energy, first.sums().energy)  # the same first pass
    capped = LocalDij(job, voxel_index, per_spot=300, target_uncertainty=target / 100, max_per_spot=900)
    list(capped.run())
    assert np.all(capped.result().histories_per_spot == 900)


def test_the_track_repeating_engine_gives_the_matrix_too(tmp_path, monkeypatch):
    """The planning work takes the job's engine: spot-resolved batches of re-traced tracks, whose columns
    weighted by the MU give the track-repeating engine's plan dose."""
    import dataclasses

    monkeypatch.setenv("BRAGGDESK_TRACKS_DIR", str(tmp_path / "tracks"))
    job = _job(primaries=30_000, mu=2.0)
    job.settings = dataclasses.replace(job.settings, engine="track-repeat", tracks_per_energy=2000)
    everywhere = np.arange(int(np.prod(job.ct.shape)))
    prepared, _, dij = _matrix(job, everywhere, per_spot=10_000)
    assert type(prepared.prepared.executor).__name__ == "TrackCpuExecutor"
    runner = LocalRunner(job)
    for _ in runner.run():
        pass
    reference = runner.result().dose_gy
    high = reference > 0.5 * reference.max()
    ratio = dij.dose_on_grid(np.full(3, 2.0))[high].sum() / reference[high].sum()
    assert abs(ratio - 1.0) < 0.015, ratio
