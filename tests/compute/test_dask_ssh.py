"""The Dask runner over an SSHCluster on a real OpenSSH server on 127.0.0.1 (throw-away keys).

The workers import braggdesk from this checkout (PYTHONPATH set through the remote
python command).  A host whose python lacks braggdesk is named in a clear error.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
asyncssh = pytest.importorskip("asyncssh")

from braggdesk.compute.dask_cluster import ClusterError, ClusterSpec  # noqa: E402
from braggdesk.compute.dask_runner import DaskRunner  # noqa: E402
from braggdesk.compute.local import LocalRunner  # noqa: E402

from dask_cases import small_job  # noqa: E402

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture()
def ssh_host(sshd):
    """The shared sshd fixture (tests/compute/conftest.py) as an SSHCluster host and its asyncssh options."""
    return {"host": f"127.0.0.1:{sshd.port}",
            "options": {"known_hosts": str(sshd.known_hosts), "client_keys": [str(sshd.client_key)]}}


def test_ssh_cluster_gives_the_same_dose_as_a_local_run(ssh_host):
    job = small_job(primaries=1200, batches=4, seed=21)
    spec = ClusterSpec.ssh(ssh_host["host"], remote_python=f"PYTHONPATH={SRC} {sys.executable}",
                           ssh_connect_options=ssh_host["options"], ssh_threads_per_worker=1)
    runner = DaskRunner(job, spec)
    for _ in runner.run():
        pass
    assert runner.finished and "Dask SSHCluster on 127.0.0.1" in runner.device
    local = LocalRunner(job)
    for _ in local.run():
        pass
    assert np.array_equal(runner.result().dose_gy, local.result().dose_gy)
    assert runner.total.batches == (0, 1, 2, 3)


def test_a_host_without_braggdesk_is_named(ssh_host, tmp_path):
    # Python and Dask are there, braggdesk is not: what a bare compute node looks like.
    stub = tmp_path / "site" / "braggdesk"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'braggdesk'\", name='braggdesk')\n")
    spec = ClusterSpec.ssh(ssh_host["host"], remote_python=f"PYTHONPATH={stub.parent} {sys.executable}",
                           ssh_connect_options=ssh_host["options"], ssh_threads_per_worker=1)
    runner = DaskRunner(small_job(), spec)
    with pytest.raises(ClusterError, match=r"braggdesk is not installed on the Dask worker host 127\.0\.0\.1 .*pip "
                                           r"install 'braggdesk\[cluster\]'"):
        next(runner.run())


def test_an_unknown_host_key_is_refused(ssh_host, tmp_path):
    (tmp_path / "known_hosts").write_text("")
    spec = ClusterSpec.ssh(ssh_host["host"], remote_python=sys.executable, start_timeout_s=10,
                           ssh_connect_options={**ssh_host["options"], "known_hosts": str(tmp_path / "known_hosts")})
    with pytest.raises(ClusterError, match="SSHCluster on 127.0.0.1.*SSH to the host failed.*known_hosts"):
        next(DaskRunner(small_job(), spec).run())


def test_a_host_without_python_there_is_told_what_it_needs(ssh_host, tmp_path):
    spec = ClusterSpec.ssh(ssh_host["host"], remote_python=str(tmp_path / "no-python"), start_timeout_s=10,
                           ssh_connect_options=ssh_host["options"])
    with pytest.raises(ClusterError, match=r"needs Python with Dask and braggdesk at .*no-python"):
        next(DaskRunner(small_job(), spec).run())


def test_ssh_cluster_links_are_tls_with_throw_away_certificates_removed_after(ssh_host):
    before = set(Path("/tmp").glob("braggdesk-tls-*"))
    job = small_job(primaries=600, batches=2, seed=4)
    spec = ClusterSpec.ssh(ssh_host["host"], remote_python=f"PYTHONPATH={SRC} {sys.executable}",
                           ssh_connect_options=ssh_host["options"], ssh_threads_per_worker=1)
    runner = DaskRunner(job, spec)
    seen = {}
    for _ in runner.run():
        if not seen:
            seen["scheduler"] = runner.scheduler_address
            seen["folders"] = set(Path("/tmp").glob("braggdesk-tls-*")) - before
    assert runner.finished and seen["scheduler"].startswith("tls://127.0.0.1:")
    assert runner.worker_addresses and all(a.startswith("tls://") for a in runner.worker_addresses)
    (folder,) = seen["folders"]  # on the host (here the same machine): owner-only while the cluster ran
    assert set(Path("/tmp").glob("braggdesk-tls-*")) - before == set() and not folder.exists()
    local = LocalRunner(job)
    for _ in local.run():
        pass
    assert np.array_equal(runner.result().dose_gy, local.result().dose_gy)


def test_the_throw_away_certificate_folder_is_private_on_the_host(ssh_host):
    from braggdesk.compute.dask_ssh_tls import place_tls

    host, port = ssh_host["host"].split(":")
    options = {**ssh_host["options"], "port": int(port)}
    # the same host twice under two logins: the second finds the folder the first made, and accepts it
    tls = place_tls([(host, options), (host, {**options, "username": getpass.getuser()})])
    try:
        folder = Path(tls.folder)
        assert oct(folder.stat().st_mode & 0o777) == "0o700"
        assert {p.name: oct(p.stat().st_mode & 0o777) for p in folder.iterdir()} == \
            {"ca.pem": "0o600", "cert.pem": "0o600", "key.pem": "0o600"}
        assert (folder / "key.pem").read_text() == tls.material.key_pem
        assert tls.dask_config()["distributed.comm.require-encryption"] is True
    finally:
        assert tls.remove() == []
    assert not folder.exists()
