"""Dose statistics per structure (Dmean, Dmax, D98, D95, D50, D2, V95 ...) in a table."""

from __future__ import annotations

import math

from PySide6 import QtGui, QtWidgets


class StatsTable(QtWidgets.QTableWidget):
    """Rows are structures, columns metrics; refilled in place on every update."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(True)
        self.setAlternatingRowColors(True)
        self._latest: tuple | None = None  # rows not shown yet

    def set_metrics(self, rows: list[tuple[str, tuple[int, int, int], dict[str, float]]], title: str = "") -> None:
        """Fill the table; while it is hidden (another tab is on top) only the latest rows are kept,
        and the table is filled when it is shown: live updates then cost nothing here."""
        self._latest = (rows, title)
        if self.isVisible():
            self._fill()

    def showEvent(self, event) -> None:  # noqa: N802
        self._fill()
        super().showEvent(event)

    def _fill(self) -> None:
        if self._latest is None:
            return
        (rows, title), self._latest = self._latest, None
        columns = list(rows[0][2]) if rows else []
        if self.columnCount() != len(columns) or [self.horizontalHeaderItem(c).text() for c in
                                                   range(self.columnCount())] != columns:
            self.setColumnCount(len(columns))
            self.setHorizontalHeaderLabels(columns)
        self.setRowCount(len(rows))
        for r, (name, color, metrics) in enumerate(rows):
            head = QtWidgets.QTableWidgetItem(name)
            head.setForeground(QtGui.QColor(*color))
            self.setVerticalHeaderItem(r, head)
            for c, key in enumerate(columns):
                value = metrics.get(key, math.nan)
                text = "-" if not math.isfinite(value) else f"{value:.3g}"
                item = self.item(r, c)
                if item is None:
                    self.setItem(r, c, QtWidgets.QTableWidgetItem(text))
                else:
                    item.setText(text)
        self.setToolTip(title)
        self.resizeColumnsToContents()

    def cell_text(self, structure: str, column: str) -> str:
        self._fill()
        for r in range(self.rowCount()):
            if self.verticalHeaderItem(r).text() == structure:
                for c in range(self.columnCount()):
                    if self.horizontalHeaderItem(c).text() == column:
                        return self.item(r, c).text()
        raise KeyError(f"no cell {structure!r} / {column!r}")
