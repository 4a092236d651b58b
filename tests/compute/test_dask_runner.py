"""The Dask runner on a LocalCluster of 2 worker processes (one cluster for the module).

What must hold: the same dose, bit for bit, as a local run of the same job on the same
kind of device; a worker killed mid-run loses nothing; cancel and a met target stop the
outstanding tasks; a cluster option on the command line gives the same RTDOSE.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from braggdesk.compute.dask_cluster import ClusterError, ClusterSpec, SshHost  # noqa: E402
from braggdesk.compute.dask_runner import DaskRunner  # noqa: E402
from braggdesk.compute.local import LocalRunner  # noqa: E402
from braggdesk.engine.simulate import prepare, run_batch  # noqa: E402

from dask_cases import small_job  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dcpt-let-2022"


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


def local_total(job):
    runner = LocalRunner(job)
    for _ in runner.run():
        pass
    return runner


def job_keys(client, job_id: str) -> list[str]:
    """Keys of this job's batches the cluster still holds or runs."""
    held = [k for keys in client.has_what().values() for k in keys]
    running = [k for keys in client.processing().values() for k in keys]
    return [k for k in held + running if f"batch-{job_id}" in str(k)]


def wait_until_gone(client, job_id: str, timeout_s: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while (left := job_keys(client, job_id)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def assert_same_sums(a, b):
    for name in ("energy", "energy_sq", "let_numerator", "let_energy"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    # float64 batch term: summed in arrival order, so equal to rounding only
    np.testing.assert_allclose(a.batch_sq_sum, b.batch_sq_sum, rtol=1e-12, atol=0)
    assert a.primaries == b.primaries and a.batches == b.batches


def test_same_seed_same_dose_bit_for_bit_as_a_local_run(client):
    job = small_job(primaries=2400, batches=8)
    runner = DaskRunner(job, client=client)
    arrived = [p.latest.batches[0] for p in runner.run()]
    assert sorted(arrived) == list(range(8)) and runner.finished
    assert runner.n_workers == 2 and "2 workers" in runner.device
    local = local_total(job)
    assert_same_sums(runner.total, local.total)
    ours, theirs = runner.result(), local.result()
    assert np.array_equal(ours.dose_gy, theirs.dose_gy) and not ours.partial
    assert not job_keys(client, job.job_id)  # merged results are released on the workers


def test_a_worker_killed_mid_run_loses_nothing(client):
    job = small_job(primaries=6000, batches=12, seed=5)
    runner = DaskRunner(job, client=client)
    killed = None
    for progress in runner.run():
        if killed is None:
            busy = {w: keys for w, keys in client.processing().items() if keys}
            victim = next(iter(busy), None)
            assert victim is not None, "no worker was busy; the job is too short for this test"
            pids = client.run(os.getpid)
            os.kill(pids[victim], signal.SIGKILL)
            killed = (victim, len(busy[victim]))
    assert killed is not None
    total = runner.total
    assert total.primaries == 6000 and total.batches == tuple(range(12))
    assert_same_sums(total, local_total(job).total)
    assert runner.finished and not runner.result().partial
    client.wait_for_workers(2, timeout=30)  # the nanny brings the worker back for the next tests


def test_cancel_stops_the_outstanding_tasks_and_keeps_what_finished(client):
    job = small_job(primaries=40 * 300, batches=40, seed=9)
    runner = DaskRunner(job, client=client)
    seen = 0
    for _ in runner.run():
        seen += 1
        if seen == 1:
            runner.cancel()
    total = runner.total
    assert 1 <= total.n_batches < 40 and total.primaries == 300 * total.n_batches
    result = runner.result()
    assert result.partial and not runner.finished
    assert not wait_until_gone(client, job.job_id)
    # what was kept is exactly those batches, as any machine computes them
    prepared = prepare(job)
    expected = sum(run_batch(prepared, b, 300).dense().energy for b in total.batches)
    assert np.array_equal(total.energy, expected)


def test_target_uncertainty_stops_when_met_and_cancels_the_rest(client):
    job = small_job(target=0.06, batch_size=300, seed=3)
    runner = DaskRunner(job, client=client, in_flight=4)
    last = None
    for last in runner.run():
        pass
    assert runner.finished and last.mean_uncertainty <= 0.06
    total = runner.total
    assert total.n_batches >= 2 and total.primaries == 300 * total.n_batches
    assert not wait_until_gone(client, job.job_id)
    prepared = prepare(job)
    assert np.array_equal(total.energy, sum(run_batch(prepared, b, 300).dense().energy for b in total.batches))


def test_a_worker_that_cannot_use_the_device_is_named(client):
    pytest.importorskip("numpy")
    from braggdesk.engine.device import gpu_status

    if gpu_status()[0]:
        pytest.skip("this machine has a GPU")
    job = small_job()
    job.settings.device = "gpu"
    runner = DaskRunner(job, client=client)
    with pytest.raises(ClusterError, match=r"worker on 127\.0\.0\.1 cannot use device 'gpu'"):
        next(runner.run())


def test_cluster_run_from_the_command_line_writes_the_same_rtdose(client, tmp_path, capsys):
    import pydicom

    from braggdesk.cli import main

    plan = next((DATA / "plans" / "plan02_mono_eclipse").glob("RN*.dcm"))
    model = DATA / "beam_model" / "DCPT_beam_model__v2.csv"
    ct = tmp_path / "ct"
    assert main(["phantom", "dcpt", "--geometry", "D", "--plan", str(plan), "--spacing", "6", "--out", str(ct)]) == 0
    common = ["run", "--ct", str(ct), "--plan", str(plan), "--beam-model", str(model), "--primaries", "1200",
              "--batches", "4", "--device", "cpu", "--ignore-frame-of-reference"]
    address = client.scheduler.address
    assert main(common + ["--cluster", address, "--out", str(tmp_path / "dask.dcm"), "--json", "-"]) == 0
    out = capsys.readouterr()
    assert f"Dask scheduler {address}" in out.err and '"primaries": 1200' in out.out
    assert main(common + ["--out", str(tmp_path / "local.dcm")]) == 0
    a, b = (pydicom.dcmread(tmp_path / name) for name in ("dask.dcm", "local.dcm"))
    assert np.array_equal(a.pixel_array, b.pixel_array) and a.DoseGridScaling == b.DoseGridScaling


def test_an_unreachable_scheduler_is_one_clear_error(capsys):
    from braggdesk.cli import main

    code = main(["run", "--ct", "nowhere", "--plan", "none.dcm", "--cluster", "tcp://127.0.0.1:1", "--out", "x.dcm"])
    assert code == 2  # the missing CT is found first: nothing is started for bad input
    assert "nowhere" in capsys.readouterr().err
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:1"):
        from braggdesk.compute.dask_cluster import open_cluster

        open_cluster(ClusterSpec(address="tcp://127.0.0.1:1", start_timeout_s=2))


def test_cluster_specs_are_checked():
    assert SshHost.parse("alice@node1:2222") == SshHost("node1", "alice", 2222)
    assert SshHost.parse("node2") == SshHost("node2")
    assert [str(h) for h in ClusterSpec.ssh("a,b@c:22").ssh_hosts] == ["a", "b@c:22"]
    with pytest.raises(ClusterError, match="port"):
        SshHost.parse("node:ssh")
    with pytest.raises(ClusterError, match="exactly one"):
        ClusterSpec(address="tcp://x:1", local_workers=2)
    with pytest.raises(ClusterError, match="at least 1"):
        ClusterSpec(local_workers=0)
