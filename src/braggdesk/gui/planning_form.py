"""The planning request as widgets: targets, beams, objectives, prescription; to and from a PlanningRequest.

The form only edits; :meth:`PlanningForm.request` builds the model's
:class:`PlanningRequest`, whose dataclasses check every value, and names the table
row when one is refused.  Loading an objectives file fills the tables (a structure
the patient lacks stays as written, so Optimise can say which one); design
settings the form does not show (layer spacing, minimum MU, goals) are kept from
the file and written back on Save.
"""

from __future__ import annotations

import dataclasses

from PySide6 import QtCore, QtWidgets

from ..errors import BraggdeskError
from ..model.objectives import DVH_KINDS, OBJECTIVE_KINDS, BeamRequest, Objective, PlanningRequest

NO_SHIFTER = "none"
OBJECTIVE_COLUMNS = ("Structure", "Kind", "Dose [Gy]", "Volume [%]", "Weight")
BEAM_COLUMNS = ("Gantry [deg]", "Couch [deg]", "Range shifter")


def _spin(lo: float, hi: float, value: float, decimals: int = 1, suffix: str = "", special: str = ""):
    box = QtWidgets.QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setValue(value)
    box.setSuffix(suffix)
    if special:
        box.setSpecialValueText(special)  # shown at the minimum: "not set"
    return box


class PlanningForm(QtWidgets.QWidget):
    changed = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._structures: list[str] = []
        self._shifters: list[str] = []
        self._kept: dict = {}  # request fields the form does not show, from the last file loaded

        self.targets = QtWidgets.QListWidget()
        self.targets.setMaximumHeight(70)
        self.beams = QtWidgets.QTableWidget(0, len(BEAM_COLUMNS))
        self.beams.setHorizontalHeaderLabels(BEAM_COLUMNS)
        self.objectives = QtWidgets.QTableWidget(0, len(OBJECTIVE_COLUMNS))
        self.objectives.setHorizontalHeaderLabels(OBJECTIVE_COLUMNS)
        for table in (self.beams, self.objectives):
            table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)
            table.verticalHeader().setDefaultSectionSize(24)
            table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.beams.setMaximumHeight(90)
        self.objectives.setMinimumHeight(90)
        self.prescription = _spin(0.1, 200.0, 2.0, 2, " Gy")
        self.fractions = QtWidgets.QSpinBox()
        self.fractions.setRange(1, 100)
        self.histories = QtWidgets.QSpinBox()
        self.histories.setRange(1, 10_000_000)
        self.histories.setValue(2_000)
        self.histories.setSingleStep(100)
        self.histories.setGroupSeparatorShown(True)
        self.spot_spacing = _spin(0.0, 30.0, 0.0, 1, " mm", "auto")
        self.margin = _spin(-0.1, 30.0, -0.1, 1, " mm", "auto")
        self.max_iterations = QtWidgets.QSpinBox()
        self.max_iterations.setRange(1, 10_000)
        self.max_iterations.setValue(200)

        form = QtWidgets.QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Targets", self.targets)
        form.addRow(self._table_with_buttons(self.beams, self.add_beam, "beam"))
        form.addRow(self._table_with_buttons(self.objectives, self.add_objective, "objective"))
        dose_row = QtWidgets.QHBoxLayout()
        dose_row.addWidget(self.prescription)
        dose_row.addWidget(QtWidgets.QLabel("in"))
        dose_row.addWidget(self.fractions)
        dose_row.addWidget(QtWidgets.QLabel("fractions"))
        form.addRow("Prescription", dose_row)
        form.addRow("Histories per spot", self.histories)
        spacing_row = QtWidgets.QHBoxLayout()
        spacing_row.addWidget(self.spot_spacing)
        spacing_row.addWidget(QtWidgets.QLabel("margin"))
        spacing_row.addWidget(self.margin)
        form.addRow("Spot spacing", spacing_row)
        form.addRow("Max iterations", self.max_iterations)
        self.targets.itemChanged.connect(lambda _: self.changed.emit())

    def _table_with_buttons(self, table: QtWidgets.QTableWidget, add, what: str) -> QtWidgets.QWidget:
        add_button = QtWidgets.QPushButton(f"Add {what}")
        remove_button = QtWidgets.QPushButton(f"Remove {what}")
        add_button.clicked.connect(lambda: add())
        remove_button.clicked.connect(lambda: self._remove_rows(table))
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(add_button)
        buttons.addWidget(remove_button)
        buttons.addStretch(1)
        box = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(table)
        layout.addLayout(buttons)
        return box

    def _remove_rows(self, table: QtWidgets.QTableWidget) -> None:
        rows = sorted({i.row() for i in table.selectedIndexes()} or {table.rowCount() - 1}, reverse=True)
        for row in rows:
            if row >= 0:
                table.removeRow(row)
        self.changed.emit()

    # -- what the patient and the machine offer ---------------------------------------
    def set_structures(self, names: list[str]) -> None:
        """The patient's structures: the target list and every objective's structure box."""
        if names == self._structures:
            return
        checked = set(self.checked_targets())
        self._structures = list(names)
        with QtCore.QSignalBlocker(self.targets):
            self.targets.clear()
            for name in names:
                item = QtWidgets.QListWidgetItem(name)
                item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(QtCore.Qt.CheckState.Checked if name in checked else QtCore.Qt.CheckState.Unchecked)
                self.targets.addItem(item)
        for row in range(self.objectives.rowCount()):
            box = self.objectives.cellWidget(row, 0)
            text = box.currentText()
            with QtCore.QSignalBlocker(box):
                box.clear()
                box.addItems(names)
                box.setCurrentText(text)

    def set_range_shifters(self, names: list[str]) -> None:
        self._shifters = list(names)
        for row in range(self.beams.rowCount()):
            box = self.beams.cellWidget(row, 2)
            text = box.currentText()
            box.clear()
            box.addItems([NO_SHIFTER, *names])
            box.setCurrentText(text if text in names else NO_SHIFTER)

    def checked_targets(self) -> list[str]:
        return [self.targets.item(i).text() for i in range(self.targets.count())
                if self.targets.item(i).checkState() == QtCore.Qt.CheckState.Checked]

    def set_targets(self, names: list[str]) -> None:
        for i in range(self.targets.count()):
            item = self.targets.item(i)
            on = item.text() in names
            item.setCheckState(QtCore.Qt.CheckState.Checked if on else QtCore.Qt.CheckState.Unchecked)

    # -- rows --------------------------------------------------------------------------
    def add_beam(self, beam: BeamRequest | None = None) -> int:
        beam = beam or BeamRequest(0.0)
        row = self.beams.rowCount()
        self.beams.insertRow(row)
        self.beams.setCellWidget(row, 0, _spin(0.0, 359.9, beam.gantry_deg, 1))
        self.beams.setCellWidget(row, 1, _spin(-90.0, 359.9, beam.couch_deg, 1))
        shifter = QtWidgets.QComboBox()
        shifter.addItems([NO_SHIFTER, *self._shifters])
        shifter.setCurrentText(beam.range_shifter or NO_SHIFTER)
        self.beams.setCellWidget(row, 2, shifter)
        self.changed.emit()
        return row

    def add_objective(self, objective: Objective | None = None) -> int:
        """A row; without an objective, a uniform dose to the prescription on the first target."""
        if objective is None:
            first = (self.checked_targets() or self._structures or [""])[0]
            objective = Objective(first or "?", "uniform", self.prescription.value(), 100.0)
        row = self.objectives.rowCount()
        self.objectives.insertRow(row)
        structure = QtWidgets.QComboBox()
        structure.setEditable(True)  # a name from a file the patient lacks stays visible, for the error to name
        structure.addItems(self._structures)
        structure.setCurrentText(objective.structure)
        kind = QtWidgets.QComboBox()
        kind.addItems(list(OBJECTIVE_KINDS))
        kind.setCurrentText(objective.kind)
        volume = _spin(0.0, 100.0, objective.volume_percent or 0.0, 1, " %", "-")
        self.objectives.setCellWidget(row, 0, structure)
        self.objectives.setCellWidget(row, 1, kind)
        self.objectives.setCellWidget(row, 2, _spin(0.0, 500.0, objective.dose_gy, 2))
        self.objectives.setCellWidget(row, 3, volume)
        self.objectives.setCellWidget(row, 4, _spin(0.0, 1e6, objective.weight, 2))
        kind.currentTextChanged.connect(lambda text, v=volume: v.setEnabled(text in DVH_KINDS))
        volume.setEnabled(objective.kind in DVH_KINDS)
        self.changed.emit()
        return row

    def set_objective(self, row: int, **fields) -> None:
        """Change cells of one objective row (structure, kind, dose_gy, volume_percent, weight): tests, scripts."""
        cells = {"structure": 0, "kind": 1, "dose_gy": 2, "volume_percent": 3, "weight": 4}
        for key, value in fields.items():
            widget = self.objectives.cellWidget(row, cells[key])
            if isinstance(widget, QtWidgets.QComboBox):
                widget.setCurrentText(str(value))
            else:
                widget.setValue(0.0 if value is None else float(value))

    # -- the request -------------------------------------------------------------------
    def objectives_list(self) -> list[Objective]:
        out = []
        for row in range(self.objectives.rowCount()):
            cell = self.objectives.cellWidget
            kind = cell(row, 1).currentText()
            volume = cell(row, 3).value()
            try:
                out.append(Objective(cell(row, 0).currentText().strip(), kind, cell(row, 2).value(),
                                     cell(row, 4).value(), volume if kind in DVH_KINDS and volume > 0 else None))
            except ValueError as exc:
                raise BraggdeskError(f"objectives table, row {row + 1}: {exc}") from None
        return out

    def beams_list(self) -> list[BeamRequest]:
        out = []
        for row in range(self.beams.rowCount()):
            shifter = self.beams.cellWidget(row, 2).currentText()
            try:
                out.append(BeamRequest(self.beams.cellWidget(row, 0).value(), self.beams.cellWidget(row, 1).value(),
                                       range_shifter=None if shifter == NO_SHIFTER else shifter))
            except ValueError as exc:
                raise BraggdeskError(f"beams table, row {row + 1}: {exc}") from None
        return out

    def request(self) -> PlanningRequest:
        """The request the form shows; BraggdeskError naming the row or field when a value is refused."""
        kept = dict(self._kept)
        if self.spot_spacing.value() > 0:
            kept["spot_spacing_mm"] = self.spot_spacing.value()
        else:
            kept.pop("spot_spacing_mm", None)
        if self.margin.value() >= 0:
            kept["margin_mm"] = self.margin.value()
        else:
            kept.pop("margin_mm", None)
        try:
            return PlanningRequest(prescription_gy=self.prescription.value(), fractions=self.fractions.value(),
                                   beams=self.beams_list(), objectives=self.objectives_list(),
                                   targets=self.checked_targets(), histories_per_spot=self.histories.value(), **kept)
        except ValueError as exc:
            raise BraggdeskError(f"planning request: {exc}") from None

    def load(self, request: PlanningRequest) -> None:
        """Fill the form from a request (an objectives file): every row replaced."""
        self.beams.setRowCount(0)
        self.objectives.setRowCount(0)
        self.prescription.setValue(request.prescription_gy)
        self.fractions.setValue(request.fractions)
        for beam in request.beams:
            self.add_beam(beam)
        for objective in request.objectives:
            self.add_objective(objective)
        self.set_targets(request.targets)
        if request.histories_per_spot:
            self.histories.setValue(request.histories_per_spot)
        self.spot_spacing.setValue(request.spot_spacing_mm or 0.0)
        self.margin.setValue(-0.1 if request.margin_mm is None else request.margin_mm)
        shown = {"prescription_gy", "fractions", "beams", "objectives", "targets", "histories_per_spot",
                 "spot_spacing_mm", "margin_mm"}
        self._kept = {f.name: getattr(request, f.name) for f in dataclasses.fields(request)
                      if f.name not in shown and getattr(request, f.name) not in (None, [])}
        self.changed.emit()
