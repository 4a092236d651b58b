"""The patient tree: CT, structures (visibility check boxes, colours), plans (beams, layers), doses."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from ..workflow.session import Session

ROLE_KIND = QtCore.Qt.ItemDataRole.UserRole
ROLE_KEY = QtCore.Qt.ItemDataRole.UserRole + 1


def _swatch(rgb) -> QtGui.QIcon:
    pix = QtGui.QPixmap(12, 12)
    pix.fill(QtGui.QColor(*rgb))
    return QtGui.QIcon(pix)


class PatientTree(QtWidgets.QTreeWidget):
    structureToggled = QtCore.Signal(str, bool)
    doseSelected = QtCore.Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderLabels(["Patient", ""])
        self.setColumnCount(2)
        self.itemChanged.connect(self._changed)
        self.itemClicked.connect(self._clicked)
        self._filling = False
        self._volumes: dict[str, tuple[object, float]] = {}  # name -> (mask, cm3): summed once per mask

    def _volume_cm3(self, mask) -> float:
        cached = self._volumes.get(mask.name)
        if cached is None or cached[0] is not mask:
            cached = self._volumes[mask.name] = (mask, mask.volume_cm3)
        return cached[1]

    def refresh(self, session: Session) -> None:
        self._filling = True
        self.clear()
        if session.ct is not None:
            ct = session.ct
            shape = "x".join(map(str, ct.shape[::-1]))
            spacing = " x ".join(f"{s:g}" for s in ct.spacing_mm)
            label = "No CT (dose grid)" if session.ct_placeholder else "CT"
            QtWidgets.QTreeWidgetItem(self, [label, f"{shape} voxels, {spacing} mm"])
        structures = QtWidgets.QTreeWidgetItem(self, ["Structures", str(len(session.masks))])
        for mask in session.masks:
            item = QtWidgets.QTreeWidgetItem(structures, [mask.name, f"{self._volume_cm3(mask):.1f} cm3"])
            item.setIcon(0, _swatch(mask.roi.color_rgb))
            item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, QtCore.Qt.CheckState.Checked if mask.name in session.visible_structures
                               else QtCore.Qt.CheckState.Unchecked)
            item.setData(0, ROLE_KIND, "structure")
            item.setData(0, ROLE_KEY, mask.name)
        plans = QtWidgets.QTreeWidgetItem(self, ["Plans", str(len(session.plans))])
        for plan in session.plans:
            p = QtWidgets.QTreeWidgetItem(plans, [plan.label or "plan", f"{len(plan.beams)} beam(s), {plan.n_spots} spots"])
            for beam in plan.beams:
                b = QtWidgets.QTreeWidgetItem(p, [beam.name, f"gantry {beam.gantry_angle_deg:g}, couch "
                                                             f"{beam.couch_angle_deg:g}, {beam.total_mu:.1f} MU"])
                for layer in beam.layers:
                    QtWidgets.QTreeWidgetItem(b, [f"{layer.nominal_energy_mev:g} MeV", f"{layer.n_spots} spots"])
        doses = QtWidgets.QTreeWidgetItem(self, ["Doses", str(len(session.doses))])
        for n, dose in enumerate(session.doses):
            d = QtWidgets.QTreeWidgetItem(doses, [dose.title, f"max {dose.max_dose_gy:.3g} Gy"])
            d.setData(0, ROLE_KIND, "dose")
            d.setData(0, ROLE_KEY, n)
            if n == session.current_dose:
                font = d.font(0)
                font.setBold(True)
                d.setFont(0, font)
        self.expandToDepth(0)
        self.resizeColumnToContents(0)
        self._filling = False

    def _changed(self, item: QtWidgets.QTreeWidgetItem, column: int) -> None:
        if self._filling or column != 0 or item.data(0, ROLE_KIND) != "structure":
            return
        self.structureToggled.emit(item.data(0, ROLE_KEY), item.checkState(0) == QtCore.Qt.CheckState.Checked)

    def _clicked(self, item: QtWidgets.QTreeWidgetItem, column: int) -> None:
        if item.data(0, ROLE_KIND) == "dose":
            self.doseSelected.emit(int(item.data(0, ROLE_KEY)))

    def structure_item(self, name: str) -> QtWidgets.QTreeWidgetItem:
        for item in self.findItems(name, QtCore.Qt.MatchFlag.MatchExactly | QtCore.Qt.MatchFlag.MatchRecursive, 0):
            if item.data(0, ROLE_KIND) == "structure":
                return item
        raise KeyError(name)
