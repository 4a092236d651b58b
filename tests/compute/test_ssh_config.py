"""SSH as users configure it: ~/.ssh/config aliases, the GUI's saved hosts by name, refused vs unknown host key.

The connection tests use the real OpenSSH server of conftest.py on 127.0.0.1 only.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from braggdesk.cli import main
from braggdesk.compute.host_resolution import resolve_host, saved_host_profiles
from braggdesk.compute.ssh_config import lookup
from braggdesk.errors import InputError

from sshd_server import free_port


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_an_alias_takes_host_name_user_port_and_identity_file_first_value_winning(tmp_path):
    config = write(tmp_path / "config", """
# global defaults come first in a real file, but the first value found wins either way
Host gpu1 gpu1-*
    HostName 10.1.2.3
    User physicist
    Port 2222
    IdentityFile ~/.ssh/id_%h
Host !gpu1-bad gpu1*
    User someone-else
    Port 2200
Host *
    User fallback
    IdentityFile ~/.ssh/id_default
""")
    found = lookup("gpu1", config)
    assert (found.host_name, found.user, found.port) == ("10.1.2.3", "physicist", 2222)
    assert found.identity_file == Path.home() / ".ssh" / "id_10.1.2.3"
    other = lookup("gpu1x", config)  # matches only the second and the catch-all block
    assert (other.host_name, other.user, other.port) == (None, "someone-else", 2200)
    assert lookup("gpu1-bad", config).user == "physicist"  # the negation leaves it to the others
    assert lookup("elsewhere", config).identity_file == Path.home() / ".ssh" / "id_default"
    assert lookup("gpu1", tmp_path / "no-config").host_name is None


def test_include_and_equals_signs_are_read_and_a_bad_port_is_named(tmp_path):
    write(tmp_path / "more.conf", "Host node\n  HostName=192.0.2.7\n  Port = 2022\n")
    config = write(tmp_path / "config", f"Include {tmp_path}/*.conf\nHost broken\n  Port ssh\n")
    found = lookup("node", config)
    assert (found.host_name, found.port) == ("192.0.2.7", 2022)
    with pytest.raises(InputError, match=r"config: Port 'ssh' for host 'broken' is not a port number"):
        lookup("broken", config)


def test_the_command_line_wins_over_the_config(tmp_path):
    config = write(tmp_path / "config", "Host n\n  HostName 192.0.2.9\n  User u\n  Port 2222\n  IdentityFile /k\n")
    profile = resolve_host("admin@n:2200", key_path=Path("/other"), saved=[], ssh_config=config)
    assert (profile.host, profile.user, profile.port, profile.key_path) == ("192.0.2.9", "admin", 2200,
                                                                           Path("/other"))
    plain = resolve_host("192.0.2.10", saved=[], ssh_config=config)
    assert (plain.host, plain.port, plain.user, plain.key_path) == ("192.0.2.10", 22, None, None)


def test_the_guis_saved_hosts_are_found_by_name_without_qt(tmp_path, monkeypatch):
    """Written by the GUI's own code (QSettings, INI on Linux), read back by the Qt-free resolver."""
    QtCore = pytest.importorskip("PySide6.QtCore")
    from braggdesk.compute.hosts import HostProfile
    from braggdesk.gui.host_profiles import save_profiles

    conf = tmp_path / "braggdesk" / "braggdesk.conf"
    settings = QtCore.QSettings(str(conf), QtCore.QSettings.Format.IniFormat)
    saved = HostProfile(host="127.0.0.1", port=2345, user="physicist", key_path=Path("/keys/id node"),
                        known_hosts=Path("/keys/known_hosts"), remote_command="/opt/venv/bin/python -m braggdesk worker",
                        name="Proton GPU, room 2")
    save_profiles(settings, [saved, HostProfile(host="192.0.2.1", name="other")])
    del settings
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (first, second) = saved_host_profiles()
    assert first == saved and second.host == "192.0.2.1"
    assert resolve_host("Proton GPU, room 2", ssh_config=tmp_path / "none") == saved


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A home folder of our own: its ~/.ssh/config is the one the command reads."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    return tmp_path


def test_an_alias_from_the_ssh_config_is_used_by_remote(sshd, home, capsys):
    user = sshd.target.split("@")[0]
    write(home / ".ssh" / "config", f"Host proton-node\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {user}\n"
                                    f"  IdentityFile {sshd.client_key}\n")
    rc = main(["remote", "test", "proton-node", "--known-hosts", str(sshd.known_hosts), "--remote-command",
               sshd.command])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert f"{user}@127.0.0.1:{sshd.port}" in out.out and "compatible     yes" in out.out


def test_connection_refused_is_told_apart_from_an_unknown_host_key(sshd, home, tmp_path, capsys):
    closed = free_port()  # nothing listens there
    rc = main(["remote", "test", f"127.0.0.1:{closed}", "--known-hosts", str(tmp_path / "absent")])
    err = capsys.readouterr().err
    assert rc == 1 and "connection refused" in err and "host key is unknown" not in err and "no known_hosts" not in err
    assert len(err.strip().splitlines()) == 1
    rc = main(["remote", "test", sshd.target, "--identity", str(sshd.client_key), "--known-hosts",
               str(sshd.empty_known_hosts), "--remote-command", sshd.command])
    err = capsys.readouterr().err
    assert rc == 1 and "host key is unknown" in err and "connection refused" not in err
    assert f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {sshd.empty_known_hosts}" in err
    assert os.environ["HOME"] == str(home)
