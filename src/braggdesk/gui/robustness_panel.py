"""The Robustness dock: the open plan under setup and range errors, with DVH bands and each goal per scenario.

It drives :func:`braggdesk.workflow.robustness.run_robustness` as ``braggdesk robust`` does: the scenarios
(nominal, the patient shifted by +/- the setup error along x, y and z, the stopping power scaled by
1 +/- the range error) are ordinary Jobs of the open CT and last plan, with the Run panel's settings, on the
Run panel's runner: all at once on a Dask cluster, one after another on this computer or a remote node.
The work runs in the planning worker's kind of thread (gui/planning_worker.py), progress streams back.

Afterwards: the DVH bands (per structure the band between the lowest and highest DVH over the scenarios,
the nominal DVH solid), a scenario picker that shows the chosen scenario's dose in the views (like a
finished run's), and a table of each clinical goal per scenario (met or missed, the worst scenario).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..errors import BraggdeskError
from ..model import Plan, SimulationSettings
from ..model.scenario import default_scenarios
from ..workflow.robustness import (RobustnessOutcome, ScenarioProgress, check_goals, goal_line, parse_goal_lines,
                                   run_robustness)
from ..workflow.session import DoseEntry, Session
from .planning_worker import StepController
from .runner_choices import cluster_spec, target_of

MET_RGB, MISSED_RGB = (200, 235, 200), (250, 200, 200)


class RobustnessHost(Protocol):
    """What the panel uses of the main window."""

    session: Session
    qsettings: QtCore.QSettings
    run_panel: Any  # gui.run_panel.RunPanel: runner, target and settings of every scenario
    sessionChanged: Any

    def make_job(self, settings: SimulationSettings): ...
    def show_error(self, title: str, message: str) -> Any: ...
    def log_line(self, text: str) -> None: ...
    def show_planned_dose(self, entry: DoseEntry, plan: Plan | None = None) -> None: ...
    def select_dose(self, index: int) -> None: ...


class RobustnessPanel(QtWidgets.QWidget):
    finished = QtCore.Signal(bool)  # the evaluation ended: succeeded or not

    def __init__(self, host: RobustnessHost, parent=None):
        super().__init__(parent)
        self.host = host
        self.outcome: RobustnessOutcome | None = None
        self._entries: dict[str, DoseEntry] = {}  # scenario -> its dose in the session, once shown
        self._started = 0.0
        self._stopping = False  # Stop was pressed: the end of the run is no error
        self.controller = StepController(self)

        self.shift = QtWidgets.QDoubleSpinBox()
        self.shift.setRange(0.0, 20.0)
        self.shift.setValue(3.0)
        self.shift.setSuffix(" mm")
        self.range_error = QtWidgets.QDoubleSpinBox()
        self.range_error.setRange(0.0, 20.0)
        self.range_error.setValue(3.5)
        self.range_error.setSuffix(" %")
        self.goals = QtWidgets.QPlainTextEdit()
        self.goals.setPlaceholderText("one goal per line, e.g.\nPTV D95% >= 57 Gy\nOrgan Dmean <= 20 Gy")
        self.goals.setMaximumHeight(90)
        self.load_button = QtWidgets.QPushButton("Load goals...")
        form = QtWidgets.QFormLayout()
        form.addRow("Setup error (+/- x, y, z)", self.shift)
        form.addRow("Range error (+/-)", self.range_error)
        form.addRow("Clinical goals", self.goals)
        form.addRow("", self.load_button)

        self.run_button = QtWidgets.QPushButton("Run scenarios")
        self.stop_button = QtWidgets.QPushButton("Stop")
        self.bar = QtWidgets.QProgressBar()
        self.bar.setRange(0, 1000)
        self.status = QtWidgets.QLabel("open a CT, structures and a plan; the scenarios run on the Run panel's "
                                       "runner with its primaries")
        self.status.setWordWrap(True)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.bar, 1)

        self.band_plot = pg.PlotWidget()
        self.band_plot.setBackground("w")
        self.band_plot.setLabel("bottom", "Dose [Gy]")
        self.band_plot.setLabel("left", "Volume [%]")
        self.band_plot.addLegend(offset=(-10, 10))
        self.band_plot.setMinimumHeight(180)
        self.scenario_box = QtWidgets.QComboBox()
        picker = QtWidgets.QHBoxLayout()
        picker.addWidget(QtWidgets.QLabel("Show scenario"))
        picker.addWidget(self.scenario_box, 1)
        self.goal_table = QtWidgets.QTableWidget(0, 0)
        self.goal_table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.goal_table.setMinimumHeight(120)

        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.band_plot, 3)
        layout.addLayout(picker)
        layout.addWidget(self.goal_table, 2)

        self.load_button.clicked.connect(self._load_dialog)
        self.run_button.clicked.connect(self.run)
        self.stop_button.clicked.connect(self.stop)
        self.scenario_box.currentIndexChanged.connect(self._scenario_picked)
        self.controller.progressed.connect(self._on_progress)
        self.controller.failed.connect(self._on_failed)
        self.controller.finished.connect(self._on_finished)
        host.sessionChanged.connect(self._update_buttons)
        self._update_buttons()

    # -- input ---------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        s = self.host.session
        ready = s.ct is not None and bool(s.plans) and bool(s.masks)
        self.run_button.setEnabled(ready and not self.controller.running)
        self.stop_button.setEnabled(self.controller.running)

    def load_goals(self, path: str | Path) -> bool:
        """Goals from a TOML file (io/goals_file.py) into the goal lines; False (and a dialog) if it cannot be read."""
        from ..io.goals_file import read_goals

        try:
            goals = read_goals(path)
        except (BraggdeskError, OSError) as exc:
            self.host.show_error("Cannot load the goals", str(exc))
            return False
        self.goals.setPlainText("\n".join(goal_line(g) for g in goals))
        return True

    def _load_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Clinical goals", "", "TOML (*.toml)")
        if path:
            self.load_goals(path)

    # -- running ---------------------------------------------------------------------------
    def run(self) -> bool:
        """Start every scenario on the Run panel's runner; False (and a dialog) when it cannot start."""
        if self.controller.running:
            return False
        s, rp = self.host.session, self.host.run_panel
        try:
            if s.ct is None or not s.plans or not s.masks:
                raise BraggdeskError("open a CT with its structures and a plan first")
            plan = s.plans[-1]
            scenarios = default_scenarios(self.shift.value(), self.range_error.value())
            goals = parse_goal_lines(self.goals.toPlainText(), plan.prescription_dose_gy or None)
            masks = {m.name: m for m in s.masks}
            check_goals(goals, masks, s.ct.shape)  # an unknown structure: refused now, not after the runs
            job = self.host.make_job(rp.settings())
            key, text = rp.runner_box.currentData(), rp.target_box.currentText()
            spec = cluster_spec(text, self.host.qsettings) if key == "dask" else None
            target, options = (None, None) if spec is not None else target_of(key, text, self.host.qsettings)
        except (BraggdeskError, ValueError, OSError) as exc:
            self.host.show_error("Cannot run the scenarios", str(exc))
            return False

        def step(report, stop):
            from ..workflow.targets import make_runner

            if spec is None:
                return run_robustness(job, scenarios, masks, goals, report=report, stop=stop,
                                      runner_factory=lambda j: make_runner(j, target, options),
                                      where=f"{rp.runner_box.currentText()}, one scenario after another")
            from ..compute.dask_cluster import open_cluster

            with open_cluster(spec) as handle:
                return run_robustness(job, scenarios, masks, goals, report=report, stop=stop, client=handle.client,
                                      where=f"{spec.describe()}, all scenarios at once")

        self._started = time.perf_counter()
        self._stopping = False
        self.bar.setValue(0)
        self.status.setText(f"{len(scenarios)} scenarios running ...")
        self.host.log_line(f"robustness: {len(scenarios)} scenarios of plan {plan.label!r}, {len(goals)} goals")
        self.controller.start("robustness", step)
        self._update_buttons()
        return True

    def stop(self) -> None:
        if self.controller.running:
            self._stopping = True
            self.controller.stop()
            self.status.setText("stopping after the batches running now ...")

    def shutdown(self) -> None:
        self.controller.shutdown()

    def _on_progress(self, _name: str, item: ScenarioProgress) -> None:
        share = (item.done + (0.0 if item.progress.fraction_done >= 1.0 else item.progress.fraction_done)) / item.total
        self.bar.setValue(int(1000 * min(1.0, share)))
        self.status.setText(f"{item.done} of {item.total} scenarios done; {item.scenario}: {item.progress.line()}")

    def _on_failed(self, _name: str, message: str) -> None:
        kept = "the previous results are kept" if self.outcome else "no results"
        if self._stopping:
            self.status.setText(f"stopped; {kept}")
            self.host.log_line(f"robustness: stopped; {kept}")
            return
        self.host.show_error("The robustness evaluation failed", message)
        self.status.setText(f"failed; {kept}")

    def _on_finished(self, _name: str, ok: bool, outcome: RobustnessOutcome | None) -> None:
        if ok and outcome is not None:
            if outcome.nominal.grid.shape != getattr(self.host.session.ct, "shape", None):
                self.host.log_line("robustness: another patient was opened meanwhile; the results are dropped")
                ok = False
            else:
                self.show_outcome(outcome)
        self._update_buttons()
        self.finished.emit(ok)

    # -- results ---------------------------------------------------------------------------
    def show_outcome(self, outcome: RobustnessOutcome) -> None:
        self.outcome = outcome
        self._entries.clear()
        self.bar.setValue(1000)
        missed = [g for g in outcome.goals if not g.met_in_all]
        text = (f"{len(outcome.scenarios)} scenarios in {outcome.wall_s:.1f} s ({outcome.where}); "
                + (f"{len(missed)} of {len(outcome.goals)} goals missed in some scenario" if outcome.goals
                   else "no goals given")
                + (f"; goals and bands of the course, {outcome.fractions} fractions" if outcome.fractions > 1 else ""))
        self.status.setText(text)
        self.host.log_line(f"robustness: {text}")
        self._draw_bands(outcome)
        self._fill_goals(outcome)
        with QtCore.QSignalBlocker(self.scenario_box):
            self.scenario_box.clear()
            for s in outcome.scenarios:
                self.scenario_box.addItem(f"{s.name}: {s.describe()}", s.name)
            self.scenario_box.setCurrentIndex(-1)
        self.show_scenario(outcome.scenarios[0].name)

    def _draw_bands(self, outcome: RobustnessOutcome) -> None:
        plot = self.band_plot
        plot.clear()
        plot.setLabel("bottom", f"Course dose [Gy], {outcome.fractions} fractions" if outcome.fractions > 1
                      else "Dose [Gy]")
        colours = {m.name: m.roi.color_rgb for m in self.host.session.masks}
        for band in outcome.bands:
            rgb = colours.get(band.structure, (128, 128, 128))
            low = plot.plot(band.dose_gy, band.min_percent, pen=pg.mkPen((*rgb, 120), width=1))
            high = plot.plot(band.dose_gy, band.max_percent, pen=pg.mkPen((*rgb, 120), width=1))
            plot.addItem(pg.FillBetweenItem(low, high, brush=pg.mkBrush(*rgb, 70)))
            if band.nominal_percent is not None:
                plot.plot(band.dose_gy, band.nominal_percent, pen=pg.mkPen(rgb, width=2), name=band.structure)
        plot.setYRange(0, 102)

    def _fill_goals(self, outcome: RobustnessOutcome) -> None:
        names = [s.name for s in outcome.scenarios]
        table = self.goal_table
        table.clear()
        table.setColumnCount(3 + len(names))
        table.setHorizontalHeaderLabels(["Goal", "All scenarios", "Worst"] + names)
        table.setRowCount(len(outcome.goals))
        for row, g in enumerate(outcome.goals):
            worst = g.results[g.worst]
            cells = [g.goal.label, "met" if g.met_in_all else f"MISSED in {sum(not r.met for r in g.results.values())}",
                     f"{g.worst} ({worst.value:.4g} {g.goal.threshold_unit})"]
            for col, text in enumerate(cells):
                table.setItem(row, col, QtWidgets.QTableWidgetItem(text))
            table.item(row, 1).setBackground(QtGui.QColor(*(MET_RGB if g.met_in_all else MISSED_RGB)))
            for col, name in enumerate(names, start=3):
                r = g.results[name]
                item = QtWidgets.QTableWidgetItem(f"{r.value:.4g} {'met' if r.met else 'missed'}")
                item.setBackground(QtGui.QColor(*(MET_RGB if r.met else MISSED_RGB)))
                table.setItem(row, col, item)
        table.resizeColumnsToContents()

    def goal_cell(self, goal_row: int, column: str) -> str:
        """The table's text at a goal's row and a column title ("All scenarios", "Worst" or a scenario's name)."""
        for col in range(self.goal_table.columnCount()):
            if self.goal_table.horizontalHeaderItem(col).text() == column:
                return self.goal_table.item(goal_row, col).text()
        raise KeyError(column)

    def show_scenario(self, name: str) -> None:
        """The scenario's dose in the views (a dose of the session, added the first time it is shown)."""
        if self.outcome is None or name not in self.outcome.results:
            return
        index = self.scenario_box.findData(name)
        if index != self.scenario_box.currentIndex():
            with QtCore.QSignalBlocker(self.scenario_box):
                self.scenario_box.setCurrentIndex(index)
        entry = self._entries.get(name)
        doses = self.host.session.doses
        if entry is not None and any(d is entry for d in doses):
            self.host.select_dose(next(i for i, d in enumerate(doses) if d is entry))
            return
        entry = DoseEntry.of_result(f"Robustness: {name}", self.outcome.results[name])
        self._entries[name] = entry
        self.host.show_planned_dose(entry)

    def _scenario_picked(self, index: int) -> None:
        if index >= 0:
            self.show_scenario(self.scenario_box.itemData(index))
