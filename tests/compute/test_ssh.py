"""The SSH runner against a real OpenSSH server on 127.0.0.1: same bits as local, clear refusals, no loss."""

from __future__ import annotations

import functools
import json
import os
import signal
import stat
import time

import numpy as np
import pytest

from braggdesk.compute.local import LocalRunner
from braggdesk.compute.ssh import AuthenticationError, ChangedHostKey, SshRunner, UnknownHostKey, probe
from braggdesk.errors import InputError, RemoteError
from braggdesk.io.wire import PROTOCOL

from cases import pencil_job


def small_job(batches: int = 4, primaries: int = 2000, seed: int = 7):
    return pencil_job(150.0, primaries, batches=batches, seed=seed)


LONG = {"batches": 12, "primaries": 120_000}  # about a second on the node: long enough to be cut in the middle


@functools.lru_cache(maxsize=None)
def local_dose(batches: int, primaries: int, seed: int = 7) -> np.ndarray:
    """The same job on this machine (the job id does not change the sums)."""
    runner = LocalRunner(small_job(batches, primaries, seed))
    drive(runner)
    return runner.result().dose_gy


def drive(runner, after_first=None):
    """Run to the end; ``after_first(runner)`` is called once, after the first batch arrives."""
    n = 0
    for _ in runner.run():
        n += 1
        if n == 1 and after_first is not None:
            after_first(runner)
    return runner.result()


def job_folder(sshd, job_id):
    return sshd.jobs_dir / job_id


def wait_for(predicate, timeout_s=20.0):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_remote_run_gives_the_same_dose_bit_for_bit_as_local(sshd):
    job = small_job()
    local = LocalRunner(job)
    drive(local)
    remote = SshRunner(job, sshd.profile())
    result = drive(remote)
    ref = local.result()
    assert result.primaries == ref.primaries == 2000 and not result.partial
    assert np.array_equal(result.dose_gy, ref.dose_gy)
    assert np.array_equal(remote.total.energy_sq, local.total.energy_sq)
    assert np.array_equal(remote.total.let_numerator, local.total.let_numerator)
    assert remote.hello["protocol"] == PROTOCOL and "CPU" in remote.device and sshd.target.split("@")[1] in remote.device
    wait_for(lambda: not job_folder(sshd, job.job_id).exists())  # the client has it all: the node lets it go


@pytest.fixture
def old_client(monkeypatch):
    """A client that never says 'received' (an older braggdesk): the node keeps its job folders."""
    from braggdesk.compute.remote import StreamRunner

    monkeypatch.setattr(StreamRunner, "_acknowledge", lambda self: None)


def test_a_finished_job_stays_on_the_node_for_an_old_client_until_pruned(sshd, old_client, capsys):
    from braggdesk.cli import main

    job = small_job(batches=1, primaries=200)
    drive(SshRunner(job, sshd.profile()))
    folder = job_folder(sshd, job.job_id)
    assert json.loads((folder / "status.json").read_text())["state"] == "done"
    assert main(["worker", "--jobs-dir", str(sshd.jobs_dir), "--prune", "1"]) == 0
    assert folder.exists()  # touched just now
    old = time.time() - 3 * 86400
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (old, old))
    from braggdesk.compute.jobfolder import JobFolder

    wait_for(lambda: not JobFolder(sshd.jobs_dir, job.job_id).engine_alive())  # a running engine is never pruned
    assert main(["worker", "--jobs-dir", str(sshd.jobs_dir), "--prune", "2"]) == 0
    out = capsys.readouterr().out
    assert not folder.exists() and "removed 1 job folder " in out, out


def test_unknown_host_key_is_refused_naming_host_and_what_to_do(sshd):
    with pytest.raises(UnknownHostKey) as err:
        drive(SshRunner(small_job(), sshd.profile(known_hosts=sshd.empty_known_hosts)))
    text = str(err.value)
    assert f"127.0.0.1:{sshd.port}" in text and "unknown" in text and "ssh-keyscan" in text
    assert "ssh-ed25519 SHA256:" in text  # the key the node offered, to check with its administrator


def test_missing_known_hosts_file_is_refused(sshd, tmp_path):
    with pytest.raises(UnknownHostKey, match="no known_hosts file"):
        drive(SshRunner(small_job(), sshd.profile(known_hosts=tmp_path / "nothing")))


def test_changed_host_key_is_refused_as_changed(sshd):
    with pytest.raises(ChangedHostKey) as err:
        drive(SshRunner(small_job(), sshd.profile(known_hosts=sshd.wrong_known_hosts)))
    text = str(err.value)
    assert "CHANGED" in text and f"[127.0.0.1]:{sshd.port}" in text and "ssh-keygen -R" in text


def test_a_key_the_node_does_not_accept_is_refused(sshd):
    with pytest.raises(AuthenticationError, match="refused the login .*permission denied"):
        drive(SshRunner(small_job(), sshd.profile(key_path=sshd.other_key)))


def test_an_unreadable_key_file_names_the_file(sshd, tmp_path):
    bad = tmp_path / "id_bad"
    bad.write_text("not a key\n")
    with pytest.raises(InputError, match="id_bad: is not a usable private key"):
        drive(SshRunner(small_job(), sshd.profile(key_path=bad)))


def test_a_missing_remote_command_says_so(sshd):
    with pytest.raises(RemoteError, match="remote command was not found"):
        drive(SshRunner(small_job(), sshd.profile(remote_command="/nonexistent/bin/python3 -m braggdesk worker")))


def test_a_python_without_braggdesk_says_so(sshd):
    with pytest.raises(RemoteError, match="braggdesk is not installed"):
        drive(SshRunner(small_job(), sshd.profile(remote_command="env -i /usr/bin/python3 -m braggdesk worker")))


def test_remote_test_reports_versions_and_device(sshd):
    found = probe(sshd.profile())
    assert found["compatible"] == "yes" and found["protocol"] == PROTOCOL and found["device"] in ("cpu", "gpu")
    assert found["host_key"].startswith("ssh-ed25519 SHA256:") and found["connect_seconds"] > 0


def test_cancel_stops_the_node_within_a_batch(sshd):
    job = small_job(batches=20, primaries=400_000)  # 20 000 a batch: tens of milliseconds each on the node
    runner = SshRunner(job, sshd.profile())
    result = drive(runner, after_first=lambda r: r.cancel())
    assert result.partial and 0 < result.primaries < 400_000
    # at most the batches already running on the node's threads finish after the cancel
    assert result.batches <= 1 + 2 * (os.cpu_count() or 1)
    wait_for(lambda: not job_folder(sshd, job.job_id).exists())  # the partial result is the client's now


def test_dropped_connection_is_re_attached_with_nothing_lost_or_counted_twice(sshd):
    job = small_job(**LONG)
    runner = SshRunner(job, sshd.profile(), reconnects=2, reconnect_delay_s=0.2)
    result = drive(runner, after_first=lambda r: sshd.drop_connections())
    assert any("re-attaching" in line for line in runner.log), runner.log
    assert result.primaries == LONG["primaries"] and result.batches == 12 and not result.partial
    assert np.array_equal(result.dose_gy, local_dose(**LONG))


def test_without_reconnects_a_drop_names_the_job_and_attach_gets_all(sshd):
    job = small_job(**LONG)
    first = SshRunner(job, sshd.profile(), reconnects=0)
    with pytest.raises(RemoteError) as err:
        drive(first, after_first=lambda r: sshd.drop_connections())
    assert f"--attach {job.job_id}" in str(err.value) and f"127.0.0.1:{sshd.port}" in str(err.value)
    again = SshRunner(small_job(**LONG), sshd.profile(), attach=job.job_id)  # rebuilt from the same inputs
    result = drive(again)
    assert result.primaries == LONG["primaries"] and result.batches == 12
    assert np.array_equal(result.dose_gy, local_dose(**LONG))


def test_attach_with_other_inputs_is_refused(sshd, old_client):
    job = small_job(batches=1, primaries=200)
    drive(SshRunner(job, sshd.profile()))
    other = small_job(batches=1, primaries=200, seed=8)
    with pytest.raises(RemoteError, match="made from other inputs"):
        drive(SshRunner(other, sshd.profile(), attach=job.job_id))
    with pytest.raises(RemoteError, match="no job nosuchjob on this node"):
        drive(SshRunner(other, sshd.profile(), attach="nosuchjob"))


def test_a_crashed_node_engine_is_reported_then_resumed(sshd):
    job = small_job(**LONG)
    folder = job_folder(sshd, job.job_id)

    def crash(_runner):
        pid = json.loads((folder / "status.json").read_text())["pid"]
        os.kill(pid, signal.SIGKILL)

    with pytest.raises(RemoteError) as err:
        drive(SshRunner(job, sshd.profile()), after_first=crash)
    text = str(err.value)
    assert f"127.0.0.1:{sshd.port}" in text and "died (killed by signal 9)" in text
    kept = len(list((folder / "batches").glob("*.snap")))
    assert 1 <= kept < 12
    result = drive(SshRunner(job, sshd.profile(), attach=job.job_id))
    assert result.primaries == LONG["primaries"] and result.batches == 12
    assert np.array_equal(result.dose_gy, local_dose(**LONG))


def test_node_job_folders_are_owner_only(sshd, old_client):
    job = small_job(batches=2, primaries=400)
    drive(SshRunner(job, sshd.profile()))
    folder = job_folder(sshd, job.job_id)
    for path in (sshd.jobs_dir, folder, folder / "batches"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert {"job.bdw", "status.json", "engine.log"} <= {p.name for p in files} and len(files) >= 5
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files if stat.S_IMODE(p.stat().st_mode) != 0o600} \
        == {}


def test_a_node_job_folder_others_can_read_is_refused_not_used(sshd, old_client):
    job = small_job(batches=1, primaries=200)
    drive(SshRunner(job, sshd.profile()))
    folder = job_folder(sshd, job.job_id)
    os.chmod(folder, 0o755)  # e.g. opened up by hand
    try:
        with pytest.raises(RemoteError, match=rf"on the node: {folder}: has permissions 0755.*chmod 700 {folder}"):
            drive(SshRunner(small_job(batches=1, primaries=200), sshd.profile(), attach=job.job_id))
    finally:
        os.chmod(folder, 0o700)
