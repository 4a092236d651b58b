"""The GUI's cluster settings: named Dask schedulers with their TLS files (Clusters... in the run panel).

The profiles live in ``clusters.ini`` next to the window's settings file, which by default
is the file ``braggdesk run --cluster-profile NAME`` reads (see
:mod:`braggdesk.compute.cluster_profiles`): one place for both.  Save refuses a profile
whose address would send patient data unencrypted (unless "insecure" is ticked) or whose
certificate files are unusable, with the same one-line reason the command line gives.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from ..compute.cluster_profiles import (FILE_NAME, ClusterProfile, default_profiles_path, load_cluster_profiles,
                                        save_cluster_profiles)
from ..errors import BraggdeskError
from .profile_list_dialog import ProfileListDialog

_FILES = (("tls_ca", "CA certificate"), ("tls_cert", "Certificate"), ("tls_key", "Private key"))


def cluster_profiles_path(settings: QtCore.QSettings | None) -> Path:
    """``clusters.ini`` beside the settings file (the command line's default file for the default settings)."""
    name = settings.fileName() if settings is not None else ""
    return Path(name).parent / FILE_NAME if name else default_profiles_path()


def profile_names(settings: QtCore.QSettings | None) -> list[str]:
    return [p.name for p in load_cluster_profiles(cluster_profiles_path(settings))]


class ClusterProfilesDialog(ProfileListDialog):
    """Profiles on the left, the chosen one's address, TLS files and the insecure switch on the right."""

    def __init__(self, settings: QtCore.QSettings | None = None, parent=None):
        path = cluster_profiles_path(settings)
        super().__init__("Dask clusters", load_cluster_profiles(path), parent)
        self.path = path
        self.name = QtWidgets.QLineEdit()
        self.address = QtWidgets.QLineEdit()
        self.address.setPlaceholderText("tls://scheduler.hospital.example:8786")
        self.files = {key: QtWidgets.QLineEdit() for key, _ in _FILES}
        self.insecure = QtWidgets.QCheckBox("Allow plain tcp:// to another machine (UNENCRYPTED; not for patient data "
                                            "on shared networks)")
        self.problem = QtWidgets.QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #b00020")
        form = QtWidgets.QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Scheduler", self.address)
        for key, label in _FILES:
            row = QtWidgets.QHBoxLayout()
            row.addWidget(self.files[key], 1)
            browse = QtWidgets.QPushButton("...")
            browse.clicked.connect(lambda _=False, k=key, t=label: self._browse(k, t))
            row.addWidget(browse)
            form.addRow(label, row)
        form.addRow(self.insecure)
        note = QtWidgets.QLabel(f"A tls:// scheduler needs the cluster's CA, your certificate and its key (PEM; the key "
                                f"without passphrase, readable by you only). Saved in {self.path}, which "
                                f"`braggdesk run --cluster-profile NAME` reads too.")
        note.setWordWrap(True)
        form.addRow(note)
        form.addRow(self.problem)
        self.lay_out(form).accepted.connect(self.save)

    def _browse(self, key: str, title: str) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, title, self.files[key].text(), "PEM (*.pem *.crt *.key);;"
                                                        "All files (*)")
        if path:
            self.files[key].setText(path)

    def show_profile(self, p: ClusterProfile | None) -> None:
        self.name.setText(p.name if p else "")
        self.address.setText(p.address if p else "")
        for key, _ in _FILES:
            value = getattr(p, key) if p else None
            self.files[key].setText(str(value) if value else "")
        self.insecure.setChecked(bool(p and p.insecure))

    def profile_from_fields(self) -> ClusterProfile:
        name, address = self.name.text().strip(), self.address.text().strip()
        if not name or not address:
            raise BraggdeskError("a cluster profile needs a name and a scheduler address (tls://host:8786)")
        files = {key: Path(self.files[key].text().strip()).expanduser() if self.files[key].text().strip() else None
                 for key, _ in _FILES}
        return ClusterProfile(name, address, insecure=self.insecure.isChecked(), **files)

    def blank_profile(self, number: int) -> ClusterProfile:
        return ClusterProfile(f"cluster {number}", "tls://scheduler:8786")

    def save(self) -> bool:
        """Check every profile's link as a run would, then write them all; False (reason shown) if one is unusable."""
        if 0 <= self._current < len(self.profiles):
            try:
                self.profiles[self._current] = self.profile_from_fields()
            except BraggdeskError as exc:
                self.problem.setText(str(exc))
                return False
        try:
            for p in self.profiles:
                try:
                    p.spec().link()
                except BraggdeskError as exc:
                    raise BraggdeskError(f"profile {p.name!r}: {exc}") from None
            save_cluster_profiles(self.profiles, self.path)
        except (BraggdeskError, OSError) as exc:
            self.problem.setText(str(exc))
            return False
        self.problem.setText("")
        self.accept()
        return True
