"""A dose-influence matrix on a node over SSH (a real OpenSSH server on 127.0.0.1): the same bits as here."""

from __future__ import annotations

import time

import numpy as np
import pytest

from cases import pencil_model, single_spot_plan, water_box, water_calibration

from braggdesk.compute.dij import LocalDij, RemoteDij
from braggdesk.compute.ssh import SshRunner
from braggdesk.errors import RemoteError
from braggdesk.model import Job, SimulationSettings

SPOTS = ((-12.0, 0.0), (0.0, 0.0), (12.0, 6.0))


def small_job() -> Job:
    ct = water_box(size_mm=(60.0, 120.0, 60.0), spacing_mm=(3.0, 3.0, 3.0))
    return Job.create(ct, single_spot_plan(100.0, spots=SPOTS), pencil_model(sigma_mm=3.0, spread_mev=0.5),
                      water_calibration(), SimulationSettings(primaries=1, seed=11, device="cpu"))


def test_a_matrix_from_an_ssh_node_equals_the_local_one_and_the_node_lets_its_folder_go(sshd):
    job = small_job()
    voxels = np.arange(0, int(np.prod(job.ct.shape)), 3)
    local = LocalDij(job, voxels, per_spot=15_000)  # blocks of two spots and one
    list(local.run())
    remote = RemoteDij(job, voxels, per_spot=15_000, make_runner=lambda j: SshRunner(j, sshd.profile()))
    progress = list(remote.run())
    assert progress[-1].spots_done == 3 and remote.finished and "CPU" in remote.device
    a, b = local.result().matrix, remote.result().matrix
    assert a.nnz > 0 and (a != b).nnz == 0
    deadline = time.monotonic() + 20
    while (sshd.jobs_dir / job.job_id).exists():
        assert time.monotonic() < deadline, "the node kept the job folder"
        time.sleep(0.05)


def test_a_node_too_old_for_matrices_is_refused_before_the_job_is_sent(sshd, monkeypatch):
    from braggdesk.io import wire

    monkeypatch.setattr(wire, "DIJ_PROTOCOL", wire.PROTOCOL + 1)  # as if the node spoke an older protocol
    job = small_job()
    remote = RemoteDij(job, np.arange(10), per_spot=10, make_runner=lambda j: SshRunner(j, sshd.profile()))
    with pytest.raises(RemoteError, match="cannot compute dose-influence matrices"):
        list(remote.run())
    assert not (sshd.jobs_dir / job.job_id).exists()


def test_a_matrix_to_a_target_uncertainty_on_a_node_adds_passes_as_here(sshd):
    """Each later pass is a job of its own at the node, with that pass's random streams: the same bits as here."""
    job = small_job()
    voxels = np.arange(0, int(np.prod(job.ct.shape)), 3)
    local = LocalDij(job, voxels, per_spot=1_000, target_uncertainty=0.04)
    list(local.run())
    remote = RemoteDij(job, voxels, per_spot=1_000, target_uncertainty=0.04,
                       make_runner=lambda j: SshRunner(j, sshd.profile()))
    progress = list(remote.run())
    assert progress[-1].pass_index >= 1 and remote.finished  # the first pass alone is not enough
    assert remote.uncertainty == local.uncertainty <= 0.04
    a, b = local.result().matrix, remote.result().matrix
    assert (a != b).nnz == 0
    deadline = time.monotonic() + 20
    while any(sshd.jobs_dir.glob(f"{job.job_id}*")):
        assert time.monotonic() < deadline, "the node kept a pass's job folder"
        time.sleep(0.05)


def test_a_node_too_old_for_later_passes_is_refused_before_the_pass_is_sent(sshd, monkeypatch):
    from braggdesk.io import wire

    monkeypatch.setattr(wire, "DIJ_PASS_PROTOCOL", wire.PROTOCOL + 1)  # as if the node spoke protocol 3
    job = small_job()
    remote = RemoteDij(job, np.arange(0, int(np.prod(job.ct.shape)), 3), per_spot=200, target_uncertainty=0.04,
                       make_runner=lambda j: SshRunner(j, sshd.profile()))
    with pytest.raises(RemoteError, match="cannot add passes to a dose-influence matrix"):
        list(remote.run())
    assert not (sshd.jobs_dir / f"{job.job_id}-pass1").exists()
