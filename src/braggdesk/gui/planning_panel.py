"""The Planning dock: an IMPT plan on the loaded patient, step by step, with live DVHs and the objective curve.

It drives :class:`braggdesk.workflow.planning.PlanningSession` as ``braggdesk plan``
does (cli/plan.py): Compute Dij (plan design and the Monte Carlo dose-influence
matrix), Optimise, Final dose (the optimised plan by full Monte Carlo on the run
panel's runner and settings), Export.  Each step runs in the planning worker
thread (gui/planning_worker.py) and has its progress bar; a button is enabled
only when its input exists, Stop while a step runs.  The panel keeps the last
good :class:`PlanningSession`: a step that fails or is stopped leaves the matrix
and plan made before it usable, and every error goes to the window's dialog.

Live: the optimiser's DVHs on the matrix's rows (dashed) and the objective curve,
a few times per second; after the final dose the window shows that dose like a
finished run's, with its DVHs solid beside the dashed ones of the optimiser.
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from ..errors import BraggdeskError
from ..model import BeamModel, Plan
from ..workflow.planning import PlanningSession
from . import planning_steps as steps
from .planning_form import PlanningForm
from .planning_worker import StepController
from .runner_choices import cluster_spec, runner_choice
from ..workflow.session import DoseEntry, Session

STEPS = ("dij", "optimise", "final", "export")
STEP_LABELS = {"dij": "Compute Dij", "optimise": "Optimise", "final": "Final dose", "export": "Export..."}


class PlanningHost(Protocol):
    """What the panel uses of the main window."""

    session: Session
    qsettings: QtCore.QSettings
    run_panel: Any  # gui.run_panel.RunPanel: runner, target and settings of the final dose
    dvh_plot: Any  # viewers.dvh_plot.DvhPlot
    sessionChanged: Any  # signal: the patient or what is loaded changed

    def show_error(self, title: str, message: str) -> Any: ...
    def log_line(self, text: str) -> None: ...
    def show_planned_dose(self, entry: DoseEntry, plan: Plan | None) -> None: ...


class PlanningPanel(QtWidgets.QWidget):
    stepFinished = QtCore.Signal(str, bool)  # step name, succeeded

    def __init__(self, host: PlanningHost, parent=None):
        super().__init__(parent)
        self.host = host
        self.planning: PlanningSession | None = None  # the last good session (matrix, plan)
        self.final: steps.FinalDose | None = None
        self.timings: dict[str, float] = {}
        self.live_updates = 0
        self._started = 0.0
        self._model: tuple[str, BeamModel] | None = None
        self.controller = StepController(self)

        self.beam_model_edit = QtWidgets.QLineEdit()
        self.beam_model_edit.setPlaceholderText("the patient's, else the built-in generic model")
        browse = QtWidgets.QPushButton("...")
        browse.setMaximumWidth(30)
        model_row = QtWidgets.QHBoxLayout()
        model_row.addWidget(QtWidgets.QLabel("Beam model"))
        model_row.addWidget(self.beam_model_edit, 1)
        model_row.addWidget(browse)
        self.form = PlanningForm()
        self.load_button = QtWidgets.QPushButton("Load objectives...")
        self.save_button = QtWidgets.QPushButton("Save objectives...")
        files_row = QtWidgets.QHBoxLayout()
        files_row.addWidget(self.load_button)
        files_row.addWidget(self.save_button)

        self.buttons: dict[str, QtWidgets.QPushButton] = {}
        self.bars: dict[str, QtWidgets.QProgressBar] = {}
        grid = QtWidgets.QGridLayout()
        for row, name in enumerate(STEPS):
            self.buttons[name] = QtWidgets.QPushButton(STEP_LABELS[name])
            self.bars[name] = QtWidgets.QProgressBar()
            self.bars[name].setRange(0, 1000)
            self.bars[name].setValue(0)
            grid.addWidget(self.buttons[name], row, 0)
            grid.addWidget(self.bars[name], row, 1)
        self.stop_button = QtWidgets.QPushButton("Stop")
        grid.addWidget(self.stop_button, len(STEPS), 0)
        self.status = QtWidgets.QLabel("load a patient (CT and structures), fill the tables, then Compute Dij")
        self.status.setWordWrap(True)
        grid.addWidget(self.status, len(STEPS), 1)
        note = QtWidgets.QLabel("The final dose runs on the Run panel's runner, device and primaries.")
        note.setWordWrap(True)
        self.objective_plot = pg.PlotWidget()
        self.objective_plot.setBackground("w")
        self.objective_plot.setLabel("bottom", "Iteration")
        self.objective_plot.setLabel("left", "Objective")
        self.objective_plot.setLogMode(y=True)
        self.objective_plot.setMinimumHeight(110)
        self.objective_curve = self.objective_plot.plot(pen=pg.mkPen((31, 119, 180), width=2))

        # the request scrolls; the steps, their progress and the objective curve stay in sight
        inner = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(inner)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(model_row)
        layout.addWidget(self.form)
        layout.addLayout(files_row)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setWidget(inner)
        outer = QtWidgets.QVBoxLayout(self)
        outer.addWidget(scroll, 3)
        outer.addLayout(grid)
        outer.addWidget(note)
        outer.addWidget(self.objective_plot, 2)

        browse.clicked.connect(self._browse_beam_model)
        self.beam_model_edit.editingFinished.connect(self._beam_model_changed)
        self.load_button.clicked.connect(self._load_dialog)
        self.save_button.clicked.connect(self._save_dialog)
        self.buttons["dij"].clicked.connect(self.compute_dij)
        self.buttons["optimise"].clicked.connect(self.optimise)
        self.buttons["final"].clicked.connect(self.final_dose)
        self.buttons["export"].clicked.connect(self._export_dialog)
        self.stop_button.clicked.connect(self.stop)
        self.controller.progressed.connect(self._on_progress)
        self.controller.failed.connect(self._on_failed)
        self.controller.finished.connect(self._on_finished)
        host.sessionChanged.connect(self.refresh)
        self.refresh()

    # -- state ---------------------------------------------------------------------------
    def _has_patient(self) -> bool:
        s = self.host.session
        return s.ct is not None and not s.ct_placeholder and bool(s.structure_sets)

    def refresh(self) -> None:
        """The patient's structures into the form, and the buttons; a new CT closes the planning session."""
        s = self.host.session
        if self.planning is not None and self.planning.inputs.ct is not s.ct and not self.controller.running:
            self.host.log_line("planning: a new patient is open; the planning session of the last one is closed")
            self.planning = self.final = None
            self.host.dvh_plot.set_dashed_dvhs([])
        names = list(dict.fromkeys(r.name for ss in s.structure_sets for r in ss.rois))
        self.form.set_structures(names)
        if not self.form.beams.rowCount():
            self.form.add_beam()
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.controller.running
        products = self.planning.products if self.planning is not None else None
        ready = {"dij": self._has_patient(),
                 "optimise": products is not None and products.dij is not None,
                 "final": products is not None and products.plan is not None,
                 "export": products is not None and products.plan is not None}
        for name, button in self.buttons.items():
            button.setEnabled(not running and ready[name])
        self.stop_button.setEnabled(running)
        self.load_button.setEnabled(not running)

    # -- the beam model ------------------------------------------------------------------
    def beam_model(self) -> BeamModel:
        """The file named in the panel, else the patient's (the demo's), else the built-in generic model."""
        from ..io.beam_model_reader import read_beam_model

        path = self.beam_model_edit.text().strip()
        if not path:
            return self.host.session.beam_model or read_beam_model(None)
        if self._model is None or self._model[0] != path:
            self._model = (path, read_beam_model(path))
        return self._model[1]

    def set_beam_model_path(self, path: str) -> None:
        self.beam_model_edit.setText(str(path))
        self._beam_model_changed()

    def _beam_model_changed(self) -> None:
        try:
            model = self.beam_model()
        except (BraggdeskError, OSError, ValueError) as exc:
            self.host.show_error("Cannot read the beam model", str(exc))
            return
        self.form.set_range_shifters(sorted(model.range_shifters))

    def _browse_beam_model(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Beam model", "", "Beam models (*.csv *.txt);;All (*)")
        if path:
            self.set_beam_model_path(path)

    # -- objectives files ----------------------------------------------------------------
    def load_objectives(self, path: str | Path) -> bool:
        from ..io.objectives_file import read_planning_request

        try:
            request = read_planning_request(path)
        except BraggdeskError as exc:
            self.host.show_error("Cannot load the objectives", str(exc))
            return False
        self.form.load(request)
        self.host.log_line(f"planning: objectives from {path}")
        return True

    def save_objectives(self, path: str | Path) -> Path | None:
        from ..io.objectives_file import write_planning_request

        try:
            written = write_planning_request(self.form.request(), path)
        except BraggdeskError as exc:
            self.host.show_error("Cannot save the objectives", str(exc))
            return None
        self.host.log_line(f"planning: wrote {written}")
        return written

    def _load_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Load objectives", "", "Objectives (*.toml)")
        if path:
            self.load_objectives(path)

    def _save_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save objectives", "objectives.toml",
                                                        "Objectives (*.toml)")
        if path:
            self.save_objectives(path)

    # -- steps ---------------------------------------------------------------------------
    def _start(self, name: str, step) -> bool:
        self.bars[name].setValue(0)
        self._started = time.perf_counter()
        self.controller.start(name, step)
        self.status.setText(f"{STEP_LABELS[name].rstrip('.')} ...")
        self._update_buttons()
        return True

    def _refuse(self, title: str, exc: Exception) -> bool:
        self.host.show_error(title, str(exc))
        return False

    def compute_dij(self) -> bool:
        """Plan design and the matrix: here, or on the Dask cluster or SSH node the run panel names."""
        if self.controller.running:
            return False
        from ..engine.device import available_cores
        from ..io.ct_calibration import read_ct_calibration

        s, run_panel = self.host.session, self.host.run_panel
        try:
            if not self._has_patient():
                raise BraggdeskError("open a patient with its CT and structures first")
            request = self.form.request()
            model = self.beam_model()
            calibration = s.calibration or read_ct_calibration("schneider")
            settings = steps.dij_settings(run_panel.settings(), max(1, available_cores() - 1))
            spec = remote = None
            if run_panel.runner_box.currentData() == "dask":
                spec = cluster_spec(run_panel.target_box.currentText(), self.host.qsettings)
            elif run_panel.runner_box.currentData() == "ssh":
                from ..compute.ssh import SshRunner
                from .host_profiles import find_profile

                profile = find_profile(self.host.qsettings, run_panel.target_box.currentText().strip())
                remote = lambda job: SshRunner(job, profile)  # noqa: E731 -- the job is made in the worker
        except (BraggdeskError, ValueError, OSError) as exc:
            return self._refuse("Cannot compute the Dij", exc)
        ct, structure_sets = s.ct, list(s.structure_sets)

        def step(report, stop):
            inputs = steps.planning_inputs(ct, structure_sets, model, calibration, request, "planning panel")
            return steps.compute_dij(inputs, settings, spec, report, stop, remote)

        where = " on the Dask cluster" if spec is not None else " on the remote node" if remote else " on this computer"
        self.host.log_line(f"planning: Dij with {request.histories_per_spot:,} histories per spot{where}")
        return self._start("dij", step)

    def optimise(self) -> bool:
        if self.controller.running or self.planning is None:
            return False
        try:
            request = self.form.request()
        except BraggdeskError as exc:
            return self._refuse("Cannot optimise", exc)
        self.objective_curve.setData([], [])
        self.live_updates = 0
        return self._start("optimise", functools.partial(steps.optimise, self.planning, request,
                                                         self.form.max_iterations.value()))

    def final_dose(self) -> bool:
        """The optimised plan by full Monte Carlo on the run panel's runner (built in the worker when slow)."""
        if self.controller.running or self.planning is None or self.planning.products.plan is None:
            return False
        run_panel, planning = self.host.run_panel, self.planning
        try:
            settings = run_panel.settings()
            choice = runner_choice(run_panel.runner_box.currentData())
            target = run_panel.target_box.currentText().strip()
            if choice.build_in_worker:
                runner = lambda: choice.make(planning.final_job(settings), target, None)  # noqa: E731 -- worker
            else:
                runner = choice.make(planning.final_job(settings), target, self.host.qsettings)
        except (BraggdeskError, ValueError) as exc:
            return self._refuse("Cannot start the final dose", exc)
        self.host.log_line(f"planning: final dose, full Monte Carlo, {choice.label.lower()}")
        return self._start("final", functools.partial(steps.final_dose, planning, runner))

    def export_to(self, folder: str | Path) -> bool:
        if self.controller.running or self.planning is None:
            return False
        final = self.final if self.final is not None and self.final.session is self.planning else None
        return self._start("export", functools.partial(steps.export_plan, self.planning, final, Path(folder),
                                                       dict(self.timings)))

    def _export_dialog(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Export the plan to a folder")
        if folder:
            self.export_to(folder)

    def stop(self) -> None:
        """Stop the running step between blocks, iterations or batches; what it made so far is kept."""
        if self.controller.running:
            self.host.log_line(f"planning: stopping {STEP_LABELS[self.controller.name or 'dij'].rstrip('.')}")
            self.controller.stop()

    def shutdown(self) -> None:
        self.controller.shutdown()

    # -- what comes back -----------------------------------------------------------------
    def _on_progress(self, name: str, item: Any) -> None:
        if name == "dij":
            self.bars["dij"].setValue(int(1000 * item.fraction_done))
            self.status.setText(item.line())
        elif name == "optimise":
            self._show_iteration(item)
        elif name == "final":
            self.bars["final"].setValue(int(1000 * item.fraction_done))
            unc = "" if not math.isfinite(item.mean_uncertainty) else f", uncertainty {100 * item.mean_uncertainty:.1f} %"
            self.status.setText(f"final dose: {item.primaries:,} primaries{unc}")

    def _show_iteration(self, update: steps.OptimiserUpdate) -> None:
        info = update.info
        self.bars["optimise"].setValue(int(1000 * min(1.0, info.iteration / max(1, self.form.max_iterations.value()))))
        self._set_history(update.history)
        self.host.dvh_plot.set_dashed_dvhs(update.dvhs)
        self.status.setText(f"optimiser: iteration {info.iteration} ({info.phase}), objective "
                            f"{info.objective_value:.5g}, best {info.best_value:.5g}")
        self.live_updates += 1

    def _set_history(self, history: list[float]) -> None:
        values = np.maximum(np.asarray(history, dtype=float), 1e-300)
        self.objective_curve.setData(np.arange(1, values.size + 1), values)

    def _on_failed(self, name: str, message: str) -> None:
        kept = ("the earlier matrix and plan are kept" if self.planning is not None else "nothing was kept")
        self.host.show_error(f"{STEP_LABELS[name].rstrip('.')} failed", message)
        self.status.setText(f"{STEP_LABELS[name].rstrip('.')} failed; {kept}")

    def _on_finished(self, name: str, ok: bool, result: Any) -> None:
        seconds = time.perf_counter() - self._started
        session = getattr(result, "session", result)
        if ok and isinstance(session, PlanningSession) and session.inputs.ct is not self.host.session.ct:
            self.host.log_line(f"planning: another patient was opened during {STEP_LABELS[name]}; its result is dropped")
            ok = False
        elif ok:
            getattr(self, f"_finished_{name}")(result, seconds)
        self.refresh()
        self.stepFinished.emit(name, ok)

    def _finished_dij(self, session: PlanningSession, seconds: float) -> None:
        for note in session.products.notes:
            self.host.log_line(f"planning note: {note}")
        dij = session.products.dij
        if dij is None:
            self.status.setText("Dij stopped: no new matrix" + ("; the earlier one is kept" if self.planning else ""))
            return
        self.planning, self.final = session, None
        self.timings = {"dij_s": seconds}
        self.bars["dij"].setValue(1000)
        plan = session.products.designed
        text = (f"Dij: {len(plan.beams)} beams, {plan.n_spots:,} spots, {dij.n_rows:,} voxels, "
                f"{dij.matrix.nnz:,} entries in {seconds:.1f} s")
        self.status.setText(text)
        self.host.log_line(f"planning: {text}")

    def _finished_optimise(self, outcome: steps.Optimised, seconds: float) -> None:
        for note in outcome.notes:
            self.host.log_line(f"planning note: {note}")
        self.planning, self.final = outcome.session, None
        self.timings = {"dij_s": self.timings.get("dij_s", 0.0), "optimise_s": seconds}
        result = outcome.session.products.optimisation
        self.bars["optimise"].setValue(1000)
        self._set_history(outcome.session.products.objective_history)
        self.host.dvh_plot.set_dashed_dvhs(outcome.dvhs)
        how = "stopped: the best plan so far is kept" if result.stopped else result.message
        text = (f"optimiser: {result.iterations} iterations, objective {result.objective_value:.5g} ({how}); "
                f"{result.active_spots:,} spots with MU")
        self.status.setText(text)
        self.host.log_line(f"planning: {text}")

    def _finished_final(self, final: steps.FinalDose, seconds: float) -> None:
        self.final = final
        self.timings["final_dose_s"] = seconds
        self.bars["final"].setValue(1000)
        fractions = final.session.inputs.request.fractions
        result = final.result
        entry = DoseEntry(f"Plan MC dose ({fractions} fx)", final.total_dose_gy, result.uncertainty,
                          result.let_kev_um, result.partial, False, result, final.max_total_gy)
        self.host.show_planned_dose(entry, final.session.products.plan)
        unc = result.mean_relative_uncertainty
        text = (f"final dose: {result.primaries:,} primaries in {seconds:.1f} s, maximum {final.max_total_gy:.3g} Gy"
                + (f", uncertainty {100 * unc:.1f} %" if math.isfinite(unc) else "")
                + (" (PARTIAL: stopped)" if result.partial else ""))
        self.status.setText(text)
        self.host.log_line(f"planning: {text}")

    def _finished_export(self, written: list[Path], seconds: float) -> None:
        self.bars["export"].setValue(1000)
        folder = written[0].parent if written else ""
        text = f"exported {', '.join(p.name for p in written)} to {folder}"
        if self.final is None or self.final.session is not self.planning:
            text += " (no final dose yet: no RD_plan.dcm or report)"
        self.status.setText(text)
        self.host.log_line(f"planning: {text}")
