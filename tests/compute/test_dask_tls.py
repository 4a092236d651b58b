"""The Dask runner over TLS: a LocalCluster of 2 worker processes with certificates made here.

What must hold: the same dose, bit for bit, as a local run; a client without a certificate
from the cluster's CA is refused by the scheduler; a plain tcp:// address to another
machine is refused unless --insecure, and then the run's summary says UNENCRYPTED; bad
certificate files end the command with one line naming the file, before any work is sent.
"""

from __future__ import annotations

import datetime
import json
import socket
import ssl
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
pytest.importorskip("cryptography")

from braggdesk.compute.certificates import issue, new_authority, throwaway_tls, write_tls  # noqa: E402
from braggdesk.compute.dask_cluster import ClusterError, ClusterSpec  # noqa: E402
from braggdesk.compute.dask_runner import DaskRunner  # noqa: E402
from braggdesk.compute.local import LocalRunner  # noqa: E402
from braggdesk.compute.tls import InsecureAddress  # noqa: E402

from dask_cases import small_job  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dcpt-let-2022"


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    """A TLS LocalCluster on 127.0.0.1 (scheduler, workers and their links all TLS), and a client's files."""
    root = tmp_path_factory.mktemp("tls")
    ca = new_authority()
    cluster_files = write_tls(root / "cluster", issue(ca, "scheduler and workers"))
    client_files = write_tls(root / "client", issue(ca, "physicist"))
    f = cluster_files
    security = distributed.Security(tls_ca_file=str(f.ca), tls_scheduler_cert=str(f.cert),
                                    tls_scheduler_key=str(f.key), tls_worker_cert=str(f.cert),
                                    tls_worker_key=str(f.key), tls_client_cert=str(f.cert),
                                    tls_client_key=str(f.key), require_encryption=True)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  protocol="tls://", security=security, dashboard_address=None) as cluster:
        yield cluster, client_files, root


def local_dose(job):
    runner = LocalRunner(job)
    for _ in runner.run():
        pass
    return runner.result().dose_gy


def test_tls_cluster_gives_the_same_dose_bit_for_bit_as_a_local_run(tls_cluster):
    cluster, files, _ = tls_cluster
    assert cluster.scheduler_address.startswith("tls://")
    job = small_job(primaries=1600, batches=4, seed=13)
    runner = DaskRunner(job, ClusterSpec(address=cluster.scheduler_address, tls=files))
    for _ in runner.run():
        pass
    assert runner.finished and runner.n_workers == 2 and runner.link.encrypted
    assert len(runner.worker_addresses) == 2 and all(a.startswith("tls://") for a in runner.worker_addresses)
    assert not any("UNENCRYPTED" in n for n in runner.notes)
    assert np.array_equal(runner.result().dose_gy, local_dose(job))


def test_a_client_without_the_clusters_certificate_is_refused(tls_cluster):
    cluster, files, root = tls_cluster
    stranger = write_tls(root / "stranger", throwaway_tls())  # a valid certificate, from another CA
    spec = ClusterSpec(address=cluster.scheduler_address, tls=stranger, start_timeout_s=10)
    with pytest.raises(ClusterError, match=r"scheduler at tls://127\.0\.0\.1:\d+ refused the TLS connection"):
        next(DaskRunner(small_job(), spec).run())
    # the scheduler itself refuses, not only braggdesk's check (which stops these before connecting): a client that
    # trusts the cluster's CA but shows a stranger's certificate ...
    security = distributed.Security(tls_ca_file=str(files.ca), tls_client_cert=str(stranger.cert),
                                    tls_client_key=str(stranger.key), require_encryption=True)
    with pytest.raises(OSError, match="TLS"):
        distributed.Client(cluster.scheduler_address, security=security, timeout=10)
    # ... or no certificate at all (Dask will not even try that, so a bare TLS socket does)
    host, port = cluster.scheduler_address.removeprefix("tls://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(files.ca))
    context.check_hostname = False
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        try:
            with context.wrap_socket(raw) as tls:
                tls.sendall(b"\0" * 8)
                got = tls.recv(1)  # a scheduler that accepted the client would wait here: a timeout fails the test
        except (ssl.SSLError, ConnectionError):  # the alert "certificate required", or a reset
            got = None
    assert got in (None, b""), "the scheduler talked to a client without a certificate"
    # without any certificate: plain TCP to a TLS scheduler gets nowhere either
    plain = ClusterSpec(address=cluster.scheduler_address.replace("tls://", "tcp://"), start_timeout_s=10)
    with pytest.raises(ClusterError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:\d+.*use tls://"):
        next(DaskRunner(small_job(), plain).run())


def _this_machine_not_loopback() -> str | None:
    """An address of this machine that is not loopback (a scheduler there is 'another machine' by address)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            ip = s.getsockname()[0]
    except OSError:
        return None
    return None if ip.startswith("127.") else ip


@pytest.fixture(scope="module")
def phantom_case(tmp_path_factory):
    from braggdesk.cli import main

    plan = next((DATA / "plans" / "plan02_mono_eclipse").glob("RN*.dcm"))
    ct = tmp_path_factory.mktemp("ct") / "ct"
    assert main(["phantom", "dcpt", "--geometry", "D", "--plan", str(plan), "--spacing", "6", "--out", str(ct)]) == 0
    return ["run", "--ct", str(ct), "--plan", str(plan), "--beam-model",
            str(DATA / "beam_model" / "DCPT_beam_model__v2.csv"), "--primaries", "600", "--batches", "2",
            "--device", "cpu", "--ignore-frame-of-reference"]


def test_plain_tcp_off_this_machine_needs_insecure_and_the_summary_says_so(phantom_case, tmp_path, capsys):
    from braggdesk.cli import main

    ip = _this_machine_not_loopback()
    if ip is None:
        pytest.skip("this machine has no address other than loopback")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, host=ip,
                                  protocol="tcp://", dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith(f"tcp://{ip}:")
        capsys.readouterr()
        assert main(phantom_case + ["--cluster", address, "--out", str(tmp_path / "a.dcm")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "UNENCRYPTED" in err[0] and "--insecure" in err[0]
        assert not (tmp_path / "a.dcm").exists()
        assert main(phantom_case + ["--cluster", address, "--insecure", "--out", str(tmp_path / "b.dcm"),
                                    "--json", "-"]) == 0
        out = capsys.readouterr()
        # the same note reaches the result, hence the PDF report
        runner = DaskRunner(small_job(primaries=200, batches=1), ClusterSpec(address=address, insecure=True))
        for _ in runner.run():
            pass
    summary = json.loads(out.out)
    assert any(n.startswith(f"UNENCRYPTED: the job (CT, plan) and its doses crossed the network to {ip}")
               for n in summary["notes"])
    assert "note                 UNENCRYPTED" in out.err
    from braggdesk.report.run_report import run_report_data

    result = runner.result()
    report = run_report_data(runner.job.plan, runner.job.ct, result, seed=11, elapsed_s=1.0)
    assert any(n.startswith("UNENCRYPTED") and "--insecure" in n for n in report.notes)


def test_the_command_line_runs_over_tls_and_refuses_bad_certificates_in_one_line(tls_cluster, phantom_case,
                                                                                   tmp_path, capsys):
    from braggdesk.cli import main

    cluster, files, root = tls_cluster
    tls = ["--tls-ca", str(files.ca), "--tls-cert", str(files.cert), "--tls-key", str(files.key)]
    assert main(phantom_case + ["--cluster", cluster.scheduler_address, *tls, "--out", str(tmp_path / "tls.dcm"),
                                "--json", "-"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["device"].startswith(f"Dask scheduler {cluster.scheduler_address}") and summary["primaries"] == 600
    assert not any("UNENCRYPTED" in n for n in summary["notes"])
    # each bad input: exit 2, one line naming the file and the problem; the scheduler never sees a task
    other = write_tls(root / "other", throwaway_tls())
    past = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    expired = write_tls(root / "expired", issue(new_authority(valid_from=past, days=3650), valid_from=past, days=30))
    tasks_before = len(cluster.scheduler.task_prefixes)
    cases = {
        "no such file": ["--tls-ca", str(tmp_path / "missing-ca.pem"), "--tls-cert", str(files.cert),
                         "--tls-key", str(files.key)],
        "does not match the private key": ["--tls-ca", str(files.ca), "--tls-cert", str(files.cert),
                                           "--tls-key", str(other.key)],
        "was not issued by the CA": ["--tls-ca", str(files.ca), "--tls-cert", str(other.cert),
                                     "--tls-key", str(other.key)],
        "expired on": ["--tls-ca", str(expired.ca), "--tls-cert", str(expired.cert), "--tls-key", str(expired.key)],
    }
    for problem, args in cases.items():
        capsys.readouterr()
        assert main(phantom_case + ["--cluster", cluster.scheduler_address, *args, "--out",
                                    str(tmp_path / "x.dcm")]) == 2, problem
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and problem in err[0], err
        assert (args[1] if problem == "no such file" else args[3]) in err[0]  # the CA file, else the certificate
    assert len(cluster.scheduler.task_prefixes) == tasks_before and not (tmp_path / "x.dcm").exists()


def test_a_named_cluster_profile_carries_the_address_and_certificates(tls_cluster, phantom_case, tmp_path, capsys,
                                                                       monkeypatch):
    from braggdesk.cli import main
    from braggdesk.compute.cluster_profiles import ClusterProfile, default_profiles_path, save_cluster_profiles

    cluster, files, _ = tls_cluster
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    path = save_cluster_profiles([ClusterProfile("hospital", cluster.scheduler_address, files.ca, files.cert,
                                                 files.key)])
    assert path == default_profiles_path() == tmp_path / "config" / "braggdesk" / "clusters.ini"
    assert "PRIVATE" not in path.read_text() and f"tls-key = {files.key}" in path.read_text()
    assert main(phantom_case + ["--cluster-profile", "hospital", "--out", str(tmp_path / "p.dcm"), "--json", "-"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["device"].startswith(f"Dask scheduler {cluster.scheduler_address} (profile hospital)")
    assert main(phantom_case + ["--cluster-profile", "nowhere", "--out", str(tmp_path / "q.dcm")]) == 2
    assert f"{path}: no cluster profile 'nowhere' (profiles there: hospital)" in capsys.readouterr().err
    with pytest.raises(InsecureAddress):
        ClusterSpec(address=cluster.scheduler_address.replace("tls://", "tcp://"), tls=files).link()
