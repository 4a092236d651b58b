"""Controls for how the slice views draw: window/level, wash quantity, colour map, opacity, isodoses."""

from __future__ import annotations

import dataclasses

from PySide6 import QtCore, QtWidgets

from ..viewers.display import COLOR_MAPS, QUANTITIES, QUANTITY_LABELS, WINDOW_PRESETS, DisplaySettings


def _preset_name(level: float, width: float) -> str:
    """The window preset with this level and width, else "Custom"."""
    return next((k for k, v in WINDOW_PRESETS.items() if v == (level, width)), "Custom")


class DisplayPanel(QtWidgets.QWidget):
    changed = QtCore.Signal(object)  # DisplaySettings

    def __init__(self, settings: DisplaySettings | None = None, parent=None):
        super().__init__(parent)
        self._settings = settings or DisplaySettings()
        form = QtWidgets.QFormLayout(self)
        self.preset = QtWidgets.QComboBox()
        self.preset.addItems(list(WINDOW_PRESETS) + ["Custom"])
        self.level = QtWidgets.QDoubleSpinBox()
        self.level.setRange(-1024, 3000)
        self.width = QtWidgets.QDoubleSpinBox()
        self.width.setRange(1, 5000)
        self.quantity = QtWidgets.QComboBox()
        for q in QUANTITIES:
            self.quantity.addItem(QUANTITY_LABELS[q], q)
        # long labels ("RBE-weighted dose [Gy(RBE)]") must not widen the dock at the slice views' expense
        self.quantity.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.quantity.setMinimumContentsLength(14)
        self.cmap = QtWidgets.QComboBox()
        self.cmap.addItems(COLOR_MAPS)
        self.opacity = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.threshold = QtWidgets.QDoubleSpinBox()
        self.threshold.setRange(0, 100)
        self.threshold.setSuffix(" %")
        self.isodoses = QtWidgets.QLineEdit()
        self.wash = QtWidgets.QCheckBox("Colour wash")
        self.iso_on = QtWidgets.QCheckBox("Isodose lines")
        self.body_only = QtWidgets.QCheckBox("Inside the body only")
        self.body_only.setToolTip("wash and isodoses inside the EXTERNAL structure only (no effect without one); "
                                  "DVHs, statistics and exports always cover the whole dose grid")
        form.addRow("CT window", self.preset)
        form.addRow("Level [HU]", self.level)
        form.addRow("Width [HU]", self.width)
        form.addRow("Show", self.quantity)
        form.addRow("Colour map", self.cmap)
        form.addRow("Opacity", self.opacity)
        form.addRow("Low-dose threshold", self.threshold)
        form.addRow("Isodoses [% of ref.]", self.isodoses)
        form.addRow(self.wash)
        form.addRow(self.iso_on)
        form.addRow(self.body_only)
        self._fill(self._settings)
        self.preset.currentTextChanged.connect(self._preset_chosen)
        for w in (self.level, self.width, self.threshold):
            w.valueChanged.connect(self._emit)
        self.level.valueChanged.connect(lambda _: self._mark_custom())
        self.width.valueChanged.connect(lambda _: self._mark_custom())
        self.quantity.currentIndexChanged.connect(self._emit)
        self.cmap.currentTextChanged.connect(self._emit)
        self.opacity.valueChanged.connect(self._emit)
        self.isodoses.editingFinished.connect(self._emit)
        self.wash.toggled.connect(self._emit)
        self.iso_on.toggled.connect(self._emit)
        self.body_only.toggled.connect(self._emit)

    def _fill(self, s: DisplaySettings) -> None:
        blockers = [QtCore.QSignalBlocker(w) for w in (self.preset, self.level, self.width, self.quantity, self.cmap,
                                                       self.opacity, self.threshold, self.isodoses, self.wash,
                                                       self.iso_on, self.body_only)]
        self.preset.setCurrentText(_preset_name(*s.window_level_hu))
        self.level.setValue(s.window_level_hu[0])
        self.width.setValue(s.window_level_hu[1])
        self.quantity.setCurrentIndex(QUANTITIES.index(s.quantity))
        self.cmap.setCurrentText(s.color_map)
        self.opacity.setValue(int(round(100 * s.opacity)))
        self.threshold.setValue(100 * s.threshold_fraction)
        self.isodoses.setText(", ".join(f"{v:g}" for v in s.isodose_percent))
        self.wash.setChecked(s.show_wash)
        self.iso_on.setChecked(s.show_isodoses)
        self.body_only.setChecked(s.body_only)
        del blockers

    def _preset_chosen(self, name: str) -> None:
        if name in WINDOW_PRESETS:
            level, width = WINDOW_PRESETS[name]
            with QtCore.QSignalBlocker(self.level), QtCore.QSignalBlocker(self.width):
                self.level.setValue(level)
                self.width.setValue(width)
            self._emit()

    def _mark_custom(self) -> None:
        with QtCore.QSignalBlocker(self.preset):
            self.preset.setCurrentText(_preset_name(self.level.value(), self.width.value()))

    def _levels(self) -> tuple[float, ...]:
        out = []
        for part in self.isodoses.text().replace(";", ",").split(","):
            try:
                value = float(part)
            except ValueError:
                continue
            if value > 0:
                out.append(value)
        return tuple(out)

    def settings(self) -> DisplaySettings:
        return dataclasses.replace(
            self._settings, window_level_hu=(self.level.value(), self.width.value()),
            quantity=self.quantity.currentData(), color_map=self.cmap.currentText(),
            opacity=self.opacity.value() / 100, threshold_fraction=self.threshold.value() / 100,
            isodose_percent=self._levels(), show_wash=self.wash.isChecked(), show_isodoses=self.iso_on.isChecked(),
            body_only=self.body_only.isChecked())

    def set_settings(self, settings: DisplaySettings) -> None:
        self._settings = settings
        self._fill(settings)

    def _emit(self, *_) -> None:
        self._settings = self.settings()
        self.changed.emit(self._settings)
