"""Saved SSH host profiles (QSettings) and the small dialog that edits them.

A profile is a :class:`braggdesk.compute.hosts.HostProfile`: host, port, user, key
file, known_hosts file and the remote command.  There is no password field and none
is ever stored: authentication is by key file or ssh-agent, and host keys are checked
strictly against the known_hosts file (see compute/ssh.py).
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from ..compute.hosts import DEFAULT_REMOTE_COMMAND, HostProfile
from ..errors import BraggdeskError
from .profile_list_dialog import ProfileListDialog

GROUP = "ssh_hosts"
FIELDS = ("name", "host", "port", "user", "key_path", "known_hosts", "remote_command")


def _settings(settings: QtCore.QSettings | None) -> QtCore.QSettings:
    return settings if settings is not None else QtCore.QSettings("braggdesk", "braggdesk")


def load_profiles(settings: QtCore.QSettings | None) -> list[HostProfile]:
    s = _settings(settings)
    out = []
    n = s.beginReadArray(GROUP)
    for i in range(n):
        s.setArrayIndex(i)
        host = str(s.value("host", "") or "")
        if not host:
            continue
        key, known = str(s.value("key_path", "") or ""), str(s.value("known_hosts", "") or "")
        out.append(HostProfile(host=host, port=int(s.value("port", 22) or 22), user=str(s.value("user", "")) or None,
                               key_path=Path(key) if key else None, known_hosts=Path(known) if known else None,
                               remote_command=str(s.value("remote_command", "") or DEFAULT_REMOTE_COMMAND),
                               name=str(s.value("name", "") or host)))
    s.endArray()
    return out


def save_profiles(settings: QtCore.QSettings | None, profiles: list[HostProfile]) -> None:
    s = _settings(settings)
    s.remove(GROUP)
    s.beginWriteArray(GROUP, len(profiles))
    for i, p in enumerate(profiles):
        s.setArrayIndex(i)
        s.setValue("name", p.name or p.address)
        s.setValue("host", p.host)
        s.setValue("port", int(p.port))
        s.setValue("user", p.user or "")
        s.setValue("key_path", str(p.key_path) if p.key_path else "")
        s.setValue("known_hosts", str(p.known_hosts) if p.known_hosts else "")
        s.setValue("remote_command", p.remote_command)
    s.endArray()
    s.sync()


def find_profile(settings: QtCore.QSettings | None, name: str) -> HostProfile:
    """The saved profile called ``name``; else an alias of ~/.ssh/config, else [user@]host[:port] (the same
    resolution as ``braggdesk run --remote``, compute/host_resolution.py)."""
    from ..compute.host_resolution import resolve_host

    if not name.strip():
        raise BraggdeskError("Remote node (SSH): choose a saved host (Hosts...) or type [user@]host[:port]")
    return resolve_host(name, saved=load_profiles(settings))


class HostProfilesDialog(ProfileListDialog):
    """A list of profiles on the left, the chosen one's fields on the right; Save writes them all."""

    def __init__(self, settings: QtCore.QSettings | None = None, parent=None):
        super().__init__("SSH hosts", load_profiles(settings), parent)
        self._settings = settings
        self.edits = {f: QtWidgets.QLineEdit() for f in FIELDS if f != "port"}
        self.port = QtWidgets.QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(22)
        self.edits["remote_command"].setPlaceholderText("e.g. /opt/venv/bin/python -m braggdesk worker")
        self.edits["key_path"].setPlaceholderText("empty: ssh-agent and ~/.ssh keys")
        self.edits["known_hosts"].setPlaceholderText("empty: ~/.ssh/known_hosts")
        form = QtWidgets.QFormLayout()
        for label, f in (("Name", "name"), ("Host", "host"), ("User", "user"), ("Key file", "key_path"),
                         ("known_hosts", "known_hosts"), ("Remote command", "remote_command")):
            form.addRow(label, self.edits[f])
            if f == "host":
                form.addRow("Port", self.port)
        note = QtWidgets.QLabel("Key authentication only: no password is asked for or stored. The host's key must "
                                "already be in the known_hosts file.")
        note.setWordWrap(True)
        form.addRow(note)
        self.lay_out(form).accepted.connect(self.save)

    def label(self, profile: HostProfile) -> str:
        return profile.name or profile.address

    def show_profile(self, p: HostProfile | None) -> None:
        values = {"name": "", "host": "", "user": "", "key_path": "", "known_hosts": "",
                  "remote_command": DEFAULT_REMOTE_COMMAND} if p is None else {
            "name": p.name, "host": p.host, "user": p.user or "", "key_path": str(p.key_path or ""),
            "known_hosts": str(p.known_hosts or ""), "remote_command": p.remote_command}
        for f, v in values.items():
            self.edits[f].setText(v)
        self.port.setValue(p.port if p else 22)

    def profile_from_fields(self) -> HostProfile:
        e = {f: w.text().strip() for f, w in self.edits.items()}
        if not e["host"]:
            raise BraggdeskError("a host profile needs a host name or address")
        return HostProfile(host=e["host"], port=self.port.value(), user=e["user"] or None,
                           key_path=Path(e["key_path"]).expanduser() if e["key_path"] else None,
                           known_hosts=Path(e["known_hosts"]).expanduser() if e["known_hosts"] else None,
                           remote_command=e["remote_command"] or DEFAULT_REMOTE_COMMAND,
                           name=e["name"] or e["host"])

    def blank_profile(self, number: int) -> HostProfile:
        return HostProfile(host="gpu-node", name=f"node {number}")

    def save(self) -> None:
        self._commit()
        save_profiles(self._settings, self.profiles)
        self.accept()
