"""The run panel: where, which engine (full or track repeating), how much (primaries or target
uncertainty), seed; Start, Cancel, progress.

Written against the runner registry (gui/runner_choices.py) and compute.progress.Progress
only: a new runner kind appears here by registering a RunnerChoice.
"""

from __future__ import annotations

import math

from PySide6 import QtCore, QtWidgets

from ..compute.progress import Progress
from ..model import SimulationSettings
from .runner_choices import RUNNER_CHOICES, detected_devices, runner_choice
from ..workflow import jobs
from ..workflow.jobs import FIRST_LOOK_PRIMARIES


class RunPanel(QtWidgets.QWidget):
    startRequested = QtCore.Signal(object, str, str)  # SimulationSettings, runner key, target
    cancelRequested = QtCore.Signal()

    def __init__(self, parent=None, settings: QtCore.QSettings | None = None):
        super().__init__(parent)
        self.qsettings = settings
        form = QtWidgets.QFormLayout(self)
        self.runner_box = QtWidgets.QComboBox()
        for choice in RUNNER_CHOICES:
            self.runner_box.addItem(choice.label, choice.key)
        self.target_box = QtWidgets.QComboBox()
        self.target_box.setEditable(True)
        self.target_box.setInsertPolicy(QtWidgets.QComboBox.InsertPolicy.NoInsert)
        self.target_edit = self.target_box.lineEdit()
        self.edit_targets = QtWidgets.QPushButton("Hosts...")
        target_row = QtWidgets.QHBoxLayout()
        target_row.setContentsMargins(0, 0, 0, 0)
        target_row.addWidget(self.target_box, 1)
        target_row.addWidget(self.edit_targets)
        self.target_widget = QtWidgets.QWidget()
        self.target_widget.setLayout(target_row)
        self.target_label = QtWidgets.QLabel("Target")
        self.device_box = QtWidgets.QComboBox()
        for key, label, ok, why in detected_devices():
            self.device_box.addItem(label, key)
            self.device_box.setItemData(self.device_box.count() - 1, why, QtCore.Qt.ItemDataRole.ToolTipRole)
            if not ok:
                self.device_box.model().item(self.device_box.count() - 1).setEnabled(False)
        self.engine_box = QtWidgets.QComboBox()
        self.engine_box.addItem("Full Monte Carlo", "full")
        self.engine_box.addItem("Track repeating", "track-repeat")
        self.engine_box.setItemData(1, "Proton tracks in water recorded once by the full engine, re-traced through the "
                                       "CT (Yepes et al. 2010); its database is recorded on first use of an energy. "
                                       "On CPU cores about 1.3-1.8x the full engine's primaries per second "
                                       "(benchmarks/README.md)",
                                    QtCore.Qt.ItemDataRole.ToolTipRole)
        self.by_uncertainty = QtWidgets.QCheckBox("Stop at a target uncertainty")
        self.primaries = QtWidgets.QSpinBox()
        self.primaries.setRange(100, 2_000_000_000)
        self.primaries.setSingleStep(10_000)
        self.primaries.setValue(100_000)
        self.primaries.setGroupSeparatorShown(True)
        self.uncertainty = QtWidgets.QDoubleSpinBox()
        self.uncertainty.setRange(0.1, 50.0)
        self.uncertainty.setSuffix(" %")
        self.uncertainty.setValue(2.0)
        self.uncertainty.setEnabled(False)
        self.batches = QtWidgets.QSpinBox()
        self.batches.setRange(1, 10_000)
        self.batches.setValue(20)
        self.seed = QtWidgets.QSpinBox()
        self.seed.setRange(0, 2_000_000_000)
        self.seed.setValue(1)
        self.first_look = QtWidgets.QCheckBox(f"Small first batch ({FIRST_LOOK_PRIMARIES} primaries) for an early look")
        self.first_look.setChecked(True)
        self.start_button = QtWidgets.QPushButton("Start")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.bar = QtWidgets.QProgressBar()
        self.bar.setRange(0, 1000)
        self.status = QtWidgets.QLabel("idle")
        self.status.setWordWrap(True)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        form.addRow("Run on", self.runner_box)
        form.addRow(self.target_label, self.target_widget)
        form.addRow("Device", self.device_box)
        form.addRow("Engine", self.engine_box)
        form.addRow(self.by_uncertainty)
        form.addRow("Primaries", self.primaries)
        form.addRow("Target uncertainty", self.uncertainty)
        form.addRow("Batches", self.batches)
        form.addRow("Seed", self.seed)
        form.addRow(self.first_look)
        form.addRow(buttons)
        form.addRow(self.bar)
        form.addRow(self.status)
        self.by_uncertainty.toggled.connect(self._mode_changed)
        self.runner_box.currentIndexChanged.connect(self._runner_changed)
        self.start_button.clicked.connect(self._start)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.edit_targets.clicked.connect(self._edit_targets)
        self._runner_changed()

    def _mode_changed(self, on: bool) -> None:
        self.uncertainty.setEnabled(on)
        self.primaries.setEnabled(not on)

    def _runner_changed(self) -> None:
        choice = runner_choice(self.runner_box.currentData())
        self.target_label.setText(choice.target_label or "Target")
        self.target_label.setVisible(bool(choice.target_label))
        self.target_widget.setVisible(bool(choice.target_label))
        self.edit_targets.setVisible(choice.edit is not None)
        self.edit_targets.setText(choice.edit_label)
        self.target_edit.setPlaceholderText(choice.placeholder)
        self._fill_targets()

    def _fill_targets(self) -> None:
        choice = runner_choice(self.runner_box.currentData())
        text = self.target_edit.text()
        with QtCore.QSignalBlocker(self.target_box):
            self.target_box.clear()
            if choice.suggestions is not None:
                self.target_box.addItems(choice.suggestions(self.qsettings))
            if text and self.target_box.findText(text) >= 0:
                self.target_box.setCurrentText(text)

    def _edit_targets(self) -> None:
        choice = runner_choice(self.runner_box.currentData())
        if choice.edit is not None:
            choice.edit(self, self.qsettings)
            self._fill_targets()

    def choose_runner(self, key: str, target: str = "") -> None:
        self.runner_box.setCurrentIndex(self.runner_box.findData(key))
        self.target_box.setCurrentText(target)

    def settings(self) -> SimulationSettings:
        """What the panel shows, with the defaults ``braggdesk run`` and the Python API use (workflow/jobs.py)."""
        by_unc = self.by_uncertainty.isChecked()
        return jobs.simulation_settings(None if by_unc else self.primaries.value(),
                                        self.uncertainty.value() / 100 if by_unc else None,
                                        batches=self.batches.value(), seed=self.seed.value(),
                                        device=self.device_box.currentData(), first_look=self.first_look.isChecked(),
                                        engine=self.engine_box.currentData())

    def apply_settings(self, settings: SimulationSettings) -> None:
        self.by_uncertainty.setChecked(settings.target_uncertainty is not None)
        if settings.primaries:
            self.primaries.setValue(settings.primaries)
        if settings.target_uncertainty:
            self.uncertainty.setValue(100 * settings.target_uncertainty)
        self.batches.setValue(settings.batches)
        self.seed.setValue(settings.seed)
        self.first_look.setChecked(settings.first_batch_primaries is not None)
        i = self.device_box.findData(settings.device)
        if i >= 0:
            self.device_box.setCurrentIndex(i)
        i = self.engine_box.findData(getattr(settings, "engine", "full"))
        if i >= 0:
            self.engine_box.setCurrentIndex(i)

    def _start(self) -> None:
        try:
            settings = self.settings()
        except ValueError as exc:
            self.status.setText(str(exc))
            return
        self.startRequested.emit(settings, self.runner_box.currentData(), self.target_box.currentText().strip())

    def set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for w in (self.runner_box, self.device_box, self.engine_box, self.by_uncertainty, self.batches, self.seed, self.target_box,
                  self.edit_targets, self.first_look):
            w.setEnabled(not running)
        if running:
            self.bar.setValue(0)
            self.status.setText("starting ...")

    def show_tracks_progress(self, energy_mev: float, done: int, total: int) -> None:
        """The track-repeating engine's database being recorded before the run (first use of an energy)."""
        self.bar.setValue(int(1000 * done / max(total, 1)))
        self.status.setText(f"recording proton tracks in water for the track-repeating engine (first use of "
                            f"{energy_mev:.2f} MeV): {done:,} of {total:,}")

    def show_progress(self, progress: Progress) -> None:
        self.bar.setValue(int(1000 * progress.fraction_done))
        eta = "?" if not math.isfinite(progress.eta_s) else f"{progress.eta_s:.0f} s"
        unc = "n/a" if not math.isfinite(progress.mean_uncertainty) else f"{100 * progress.mean_uncertainty:.2f} %"
        self.status.setText(f"{progress.primaries:,} primaries\n{progress.primaries_per_second:,.0f} primaries/s\n"
                            f"uncertainty {unc}\nETA {eta}")

    def show_done(self, text: str) -> None:
        self.status.setText(text)
