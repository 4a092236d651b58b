"""A dialog that edits a list of saved profiles: the list on the left (New, Remove), the chosen one's fields
on the right, Save and Cancel below.  The SSH hosts and the Dask clusters dialogs are this, with their own
fields: a subclass builds the form, fills it from a profile, reads a profile back from it, makes a new one
and saves the list."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtWidgets

from ..errors import BraggdeskError


class ProfileListDialog(QtWidgets.QDialog):
    def __init__(self, title: str, profiles: list[Any], parent=None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.profiles = profiles
        self.list = QtWidgets.QListWidget()
        self._current = -1

    # -- what a subclass provides (both dialogs define all three) -----------------------------
    def show_profile(self, profile: Any | None) -> None:
        """Put ``profile``'s values into the fields (None: empty fields)."""
        raise NotImplementedError(f"{type(self).__name__} must define show_profile")

    def profile_from_fields(self) -> Any:
        """The profile the fields describe; BraggdeskError naming what is missing or wrong."""
        raise NotImplementedError(f"{type(self).__name__} must define profile_from_fields")

    def blank_profile(self, number: int) -> Any:
        """A new profile to start from (``number``: its position, from 1)."""
        raise NotImplementedError(f"{type(self).__name__} must define blank_profile")

    def label(self, profile: Any) -> str:
        return profile.name

    # -- the shared part -----------------------------------------------------------------------
    def lay_out(self, form: QtWidgets.QFormLayout) -> QtWidgets.QDialogButtonBox:
        """The list with New and Remove beside ``form``, Save and Cancel below; returns the button box (whose
        ``accepted`` the subclass connects to its save)."""
        add, remove = QtWidgets.QPushButton("New"), QtWidgets.QPushButton("Remove")
        left = QtWidgets.QVBoxLayout()
        left.addWidget(self.list)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(add)
        row.addWidget(remove)
        left.addLayout(row)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Save
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        top = QtWidgets.QHBoxLayout()
        top.addLayout(left)
        top.addLayout(form, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(buttons)
        add.clicked.connect(self.new_profile)
        remove.clicked.connect(self.remove_profile)
        buttons.rejected.connect(self.reject)
        self.list.currentRowChanged.connect(self._show)
        self._fill_list()
        return buttons

    def _fill_list(self) -> None:
        with QtCore.QSignalBlocker(self.list):
            self.list.clear()
            self.list.addItems([self.label(p) for p in self.profiles])
        self._current = -1
        self.list.setCurrentRow(0 if self.profiles else -1)
        self._show(self.list.currentRow())

    def _show(self, row: int) -> None:
        self._commit()
        self._current = row
        self.show_profile(self.profiles[row] if 0 <= row < len(self.profiles) else None)

    def _commit(self) -> None:
        """Keep what the fields say in the profile being edited (unless they do not make a profile yet)."""
        if 0 <= self._current < len(self.profiles):
            try:
                self.profiles[self._current] = self.profile_from_fields()
            except BraggdeskError:
                return
            item = self.list.item(self._current)
            if item is not None:
                item.setText(self.label(self.profiles[self._current]))

    def new_profile(self) -> None:
        self._commit()
        self.profiles.append(self.blank_profile(len(self.profiles) + 1))
        self._current = -1
        self._fill_list()
        self.list.setCurrentRow(len(self.profiles) - 1)

    def remove_profile(self) -> None:
        row = self.list.currentRow()
        if 0 <= row < len(self.profiles):
            del self.profiles[row]
            self._current = -1
            self._fill_list()
