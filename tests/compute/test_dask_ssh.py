"""The Dask runner over an SSHCluster on a real OpenSSH server on 127.0.0.1 (throw-away keys).

The workers import braggdesk from this checkout (PYTHONPATH set through the remote
python command).  A host whose python lacks braggdesk is named in a clear error.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
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
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A real sshd on 127.0.0.1 with its own host key; yields the asyncssh options to reach it."""
    if not Path(SSHD).exists():
        pytest.skip("OpenSSH server (sshd) is not installed")
    d = tmp_path_factory.mktemp("sshd")
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    user_key = asyncssh.generate_private_key("ssh-ed25519")
    host_key.write_private_key(str(d / "host_key"))
    user_key.write_private_key(str(d / "user_key"))
    (d / "host_key").chmod(0o600)
    (d / "user_key").chmod(0o600)
    (d / "authorized_keys").write_bytes(user_key.export_public_key())
    port = _free_port()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} " + host_key.export_public_key().decode())
    (d / "sshd_config").write_text("\n".join([
        "ListenAddress 127.0.0.1", f"Port {port}", f"HostKey {d / 'host_key'}",
        f"AuthorizedKeysFile {d / 'authorized_keys'}", f"PidFile {d / 'sshd.pid'}", "PasswordAuthentication no",
        "StrictModes no", "UsePAM no", "Subsystem sftp internal-sftp", ""]))
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.skip("sshd did not start")
            time.sleep(0.05)
    yield {"host": f"127.0.0.1:{port}",
           "options": {"known_hosts": str(d / "known_hosts"), "client_keys": [str(d / "user_key")]}}
    proc.terminate()
    proc.wait(timeout=10)


def test_ssh_cluster_gives_the_same_dose_as_a_local_run(sshd):
    job = small_job(primaries=1200, batches=4, seed=21)
    spec = ClusterSpec.ssh(sshd["host"], remote_python=f"PYTHONPATH={SRC} {sys.executable}",
                           ssh_connect_options=sshd["options"], ssh_threads_per_worker=1)
    runner = DaskRunner(job, spec)
    for _ in runner.run():
        pass
    assert runner.finished and "Dask SSHCluster on 127.0.0.1" in runner.device
    local = LocalRunner(job, workers=1)
    for _ in local.run():
        pass
    assert np.array_equal(runner.result().dose_gy, local.result().dose_gy)
    assert runner.total.batches == (0, 1, 2, 3)


def test_a_host_without_braggdesk_is_named(sshd, tmp_path):
    # Python and Dask are there, braggdesk is not: what a bare compute node looks like.
    stub = tmp_path / "site" / "braggdesk"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'braggdesk'\", name='braggdesk')\n")
    spec = ClusterSpec.ssh(sshd["host"], remote_python=f"PYTHONPATH={stub.parent} {sys.executable}",
                           ssh_connect_options=sshd["options"], ssh_threads_per_worker=1)
    runner = DaskRunner(small_job(), spec)
    with pytest.raises(ClusterError, match=r"braggdesk is not installed on the Dask worker host 127\.0\.0\.1 .*pip "
                                           r"install 'braggdesk\[cluster\]'"):
        next(runner.run())


def test_an_unknown_host_key_is_refused(sshd, tmp_path):
    (tmp_path / "known_hosts").write_text("")
    spec = ClusterSpec.ssh(sshd["host"], remote_python=sys.executable, start_timeout_s=10,
                           ssh_connect_options={**sshd["options"], "known_hosts": str(tmp_path / "known_hosts")})
    with pytest.raises(ClusterError, match="SSHCluster on 127.0.0.1.*SSH to the host failed.*known_hosts"):
        next(DaskRunner(small_job(), spec).run())


def test_a_host_without_python_there_is_told_what_it_needs(sshd, tmp_path):
    spec = ClusterSpec.ssh(sshd["host"], remote_python=str(tmp_path / "no-python"), start_timeout_s=10,
                           ssh_connect_options=sshd["options"])
    with pytest.raises(ClusterError, match=r"needs Python with Dask and braggdesk at .*no-python"):
        next(DaskRunner(small_job(), spec).run())
