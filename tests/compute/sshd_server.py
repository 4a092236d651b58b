"""A real OpenSSH server on 127.0.0.1 for the SSH tests: its own port, throw-away keys, no passwords."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import braggdesk

SSHD = "/usr/sbin/sshd"
SRC = Path(braggdesk.__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_command(jobs_dir: Path) -> str:
    """sshd starts a clean environment: name this interpreter and these sources explicitly."""
    return f"env PYTHONPATH={SRC} {sys.executable} -m braggdesk worker --jobs-dir {jobs_dir}"


@dataclass
class Sshd:
    root: Path
    port: int
    proc: subprocess.Popen
    client_key: Path  # authorised
    other_key: Path  # not authorised
    known_hosts: Path  # the server's real key
    wrong_known_hosts: Path  # another key for the same host and port
    empty_known_hosts: Path  # no entry for the host
    jobs_dir: Path

    @property
    def target(self) -> str:
        return f"{os.environ.get('USER') or 'root'}@127.0.0.1:{self.port}"

    @property
    def command(self) -> str:
        return worker_command(self.jobs_dir)

    def profile(self, **changes):
        from braggdesk.compute.hosts import HostProfile

        fields = {"key_path": self.client_key, "known_hosts": self.known_hosts, "remote_command": self.command}
        fields.update(changes)
        return HostProfile.parse(self.target, **fields)

    def drop_connections(self) -> int:
        """Kill sshd's per-connection processes: the network failing under a running job."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        for pid in children:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(children)


def start_sshd(root: Path) -> Sshd:
    import asyncssh

    if not os.path.exists(SSHD):
        raise RuntimeError(f"{SSHD} is missing (apt-get install openssh-server)")
    os.makedirs("/run/sshd", exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    keys = {}
    for name in ("host", "client", "other", "fake_host"):
        key = asyncssh.generate_private_key("ssh-ed25519")
        key.write_private_key(str(root / name))
        os.chmod(root / name, 0o600)
        key.write_public_key(str(root / f"{name}.pub"))
        keys[name] = key
    (root / "authorized_keys").write_bytes(keys["client"].export_public_key())
    port = free_port()
    config = root / "sshd_config"
    config.write_text("\n".join([
        "ListenAddress 127.0.0.1", f"Port {port}", f"HostKey {root / 'host'}",
        f"AuthorizedKeysFile {root / 'authorized_keys'}", f"PidFile {root / 'sshd.pid'}",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "StrictModes no", "UsePAM no",
        "PermitRootLogin prohibit-password", "Subsystem sftp internal-sftp", "LogLevel ERROR", ""]))
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                            stderr=open(root / "sshd.log", "wb"))
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"sshd did not start: {(root / 'sshd.log').read_text()}")
            time.sleep(0.05)

    def known(name: str, key) -> Path:
        path = root / name
        path.write_bytes(f"[127.0.0.1]:{port} ".encode() + key.export_public_key())
        return path

    empty = root / "known_hosts_empty"
    empty.write_text("")
    return Sshd(root, port, proc, root / "client", root / "other", known("known_hosts", keys["host"]),
                known("known_hosts_wrong", keys["fake_host"]), empty, root / "jobs")


def stop_sshd(server: Sshd) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(5)
    except subprocess.TimeoutExpired:
        server.proc.kill()
    shutil.rmtree(server.root, ignore_errors=True)
