"""The braggdesk workstation window: patient tree, three slice views, 3D view, DVH, statistics, run panel.

The window holds a :class:`Session` (what is loaded) and wires widgets to it:
loading goes through gui/loaders.py, running through gui/runners.py and the
worker thread of gui/worker.py, drawing through viewers/.  Every error from the
layers below lands in :meth:`show_error` (a dialog) and leaves the session as it
was.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ..analysis.resample import resample
from ..errors import BraggdeskError
from ..io.rtdose import check_dose_grid_on_ct
from ..model import DoseResult, Job, SimulationSettings, StructureMask
from ..viewers.display import DisplaySettings
from ..viewers.dvh_plot import DvhPlot
from ..viewers.slice_view import SliceView
from ..viewers.stats_table import StatsTable
from ..viewers.view3d import Surface, View3D, body_surface, dose_surfaces, shows_in_3d, structure_surface
from . import loaders
from .analysis import StructureAnalysis, analyse
from .background import Background
from .engine_warmup import EngineWarmUp
from .display_panel import DisplayPanel
from .run_panel import RunPanel
from .runners import runner_choice
from .screenshot import save_png
from .session import DoseEntry, Session
from .tree import PatientTree
from .worker import RunController, RunUpdate

MAX_RECENT = 8
#: live updates no more often than this, longer for big grids (each one converts and draws every voxel)
MIN_UPDATE_INTERVAL_S = 0.25
UPDATE_SECONDS_PER_VOXEL = 2.5e-7  # 1.9 M voxels (the 2 mm demo): one update every 0.5 s
#: live 3D dose surfaces no more often than this on a GPU.  On a software renderer (Mesa llvmpipe) a frame
#: of the 2 mm demo costs 30-50 ms while the engine runs, which alone reaches the 50 ms stall goal: there
#: the 3D dose is drawn at the end of a run only (benchmarks/README.md, GUI responsiveness)
LIVE_3D_INTERVAL_S = 2.0
NO_CT_HU = -1000.0  # the stand-in "CT" of a folder without one (its RTDOSE grid): air, black in any window


@dataclass
class RunAnalysis:
    """What the run worker derives from a DoseResult off the GUI thread: DVHs and metrics, 3D dose surfaces."""

    structures: list[StructureAnalysis]
    reference_gy: float
    surfaces: list[Surface] | None = None  # None: not rebuilt for this update (throttled)


class MainWindow(QtWidgets.QMainWindow):
    runFinished = QtCore.Signal(object)  # the final DoseEntry, or None
    tracksProgress = QtCore.Signal(float, int, int)  # track database recording before a run: energy, done, total

    def __init__(self, settings: QtCore.QSettings | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("braggdesk")
        self.resize(1400, 900)
        self.setAcceptDrops(True)
        self.qsettings = settings or QtCore.QSettings("braggdesk", "braggdesk")
        self.session = Session()
        self.display = DisplaySettings()
        self.controller = RunController(self)
        self.background = Background(self)
        self._stages: deque = deque()
        self._stage_timer = QtCore.QTimer(self)
        self._stage_timer.setSingleShot(True)
        self._stage_timer.setInterval(0)
        self._stage_timer.timeout.connect(self._next_stage)
        self.error_dialogs: list[QtWidgets.QMessageBox] = []
        self.timings: dict[str, float] = {}
        self.live_updates = 0
        self._running_index = -1
        self._analysis: list[StructureAnalysis] = []  # DVHs and metrics of the shown dose
        self._live_masks: list[StructureMask] = []  # what the run worker analyses (replaced, never mutated)
        self._let_cache: tuple = (None, 1.0)
        #: seconds between live 3D dose surfaces; None: LIVE_3D_INTERVAL_S on a GPU, the end of a run only
        #: on a software renderer; math.inf: the end of a run only
        self.live_3d_interval_s: float | None = None

        self.views = {name: SliceView(name) for name in ("axial", "coronal", "sagittal")}
        self.view3d = View3D()
        grid = QtWidgets.QGridLayout()
        grid.setSpacing(2)
        for (r, c), w in zip(((0, 0), (0, 1), (1, 0), (1, 1)), (*self.views.values(), self.view3d)):
            grid.addWidget(w, r, c)
        central = QtWidgets.QWidget()
        central.setLayout(grid)
        self.setCentralWidget(central)

        self.tree = PatientTree()
        self.display_panel = DisplayPanel(self.display)
        self.run_panel = RunPanel(settings=self.qsettings)
        self.dvh_plot = DvhPlot()
        self.stats = StatsTable()
        self.log = QtWidgets.QPlainTextEdit()
        self.log.setReadOnly(True)
        left = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        left.addWidget(self.tree)
        left.addWidget(self.display_panel)
        self._dock("Patient", left, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("Run", self.run_panel, QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        bottom = QtWidgets.QTabWidget()
        bottom.addTab(self.dvh_plot, "DVH")
        bottom.addTab(self.stats, "Statistics")
        bottom.addTab(self.log, "Log")
        self.bottom_tabs = bottom
        self._dock("Review", bottom, QtCore.Qt.DockWidgetArea.BottomDockWidgetArea)
        self.cursor_label = QtWidgets.QLabel("")
        self.statusBar().addPermanentWidget(self.cursor_label, 1)
        self._build_menus()

        for view in self.views.values():
            view.pointPicked.connect(self.set_point)
            view.hovered.connect(self._on_hover)
        self.tree.structureToggled.connect(self.set_structure_visible)
        self.tree.doseSelected.connect(self.select_dose)
        self.display_panel.changed.connect(self.apply_display)
        self.run_panel.startRequested.connect(self.start_run)
        self.tracksProgress.connect(self.run_panel.show_tracks_progress)
        self.run_panel.cancelRequested.connect(self.cancel_run)
        self.controller.started.connect(self._on_started)
        self.engine_warm_up = EngineWarmUp(self)
        self.engine_warm_up.finished.connect(self.log_line, QtCore.Qt.ConnectionType.QueuedConnection)
        self.engine_warm_up.start()
        self.controller.updated.connect(self._on_update)
        self.controller.analysed.connect(self._on_analysed)
        self.controller.failed.connect(lambda msg: self.show_error("The calculation failed", msg))
        self.controller.finished.connect(self._on_finished)

    # -- construction ------------------------------------------------------------------
    def _dock(self, title: str, widget: QtWidgets.QWidget, area) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_menus(self) -> None:
        file = self.menuBar().addMenu("&File")
        file.addAction("&Open folder...", self._open_folder_dialog, QtGui.QKeySequence.StandardKey.Open)
        file.addAction("Open &demo case", self.open_demo)
        self.recent_menu = file.addMenu("Open &recent")
        self._fill_recent()
        file.addSeparator()
        file.addAction("Export dose as &RTDOSE...", self._export_rtdose_dialog)
        file.addAction("Save &window as PNG...", lambda: self._save_png_dialog(self))
        views = file.addMenu("Save &view as PNG")
        for name, view in self.views.items():
            views.addAction(name.capitalize(), lambda v=view: self._save_png_dialog(v))
        views.addAction("3D", lambda: self._save_png_dialog(self.view3d))
        views.addAction("DVH", lambda: self._save_png_dialog(self.dvh_plot))
        file.addSeparator()
        file.addAction("&Quit", self.close, QtGui.QKeySequence.StandardKey.Quit)

    # -- errors and log ----------------------------------------------------------------
    def show_error(self, title: str, message: str) -> QtWidgets.QMessageBox:
        """A dialog with the message from the layer below; nothing loaded is touched."""
        self.log_line(f"ERROR {title}: {message}")
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Critical, title, message,
                                    QtWidgets.QMessageBox.StandardButton.Ok, self)
        box.setModal(False)
        box.open()
        self.error_dialogs.append(box)
        return box

    def log_line(self, text: str) -> None:
        self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")

    # -- loading -----------------------------------------------------------------------
    def open_paths(self, paths) -> bool:
        return all([self.load_path(p) for p in paths])

    def load_path(self, path) -> bool:
        path = Path(path)
        try:
            loaded = loaders.load_path(path)
            self._merge(loaded)
        except BraggdeskError as exc:
            self.show_error("Cannot load", str(exc))
            return False
        except Exception as exc:  # noqa: BLE001 -- unexpected; still a dialog, never lost work
            self.show_error("Cannot load", f"{path}: {type(exc).__name__}: {exc}")
            return False
        self._remember(path)
        for note in loaded.notes:
            self.log_line(note)
        self.log_line(f"loaded {path}: {self.session.summary()}")
        return True

    def _merge(self, loaded: loaders.Loaded) -> None:
        """Checks first, then changes the session, so a failure changes nothing.

        What is cheap (CT, plans) lands at once; resampling imported doses onto the CT
        and rasterizing structures run in the background and land when done.  A folder
        with doses but no CT (a planning system's RS + RP + RD export) is shown on the
        first dose's grid, with an empty stand-in CT that cannot be run on; the CT, once
        opened (same frame of reference), takes over its plans, structures and doses.
        """
        ct = loaded.ct if loaded.ct is not None else self.session.ct
        placeholder = False
        if ct is None and loaded.doses:
            path, grid = loaded.doses[0]
            ct = grid.with_hu(np.full(grid.shape, NO_CT_HU, np.float32),
                              description=f"no CT: the grid of {path.name}")
            placeholder = True
            loaded.notes.append(f"{loaded.path}: no CT series; showing the doses and structures on the grid of "
                                f"{path.name} (open the CT to run a calculation)")
        if ct is None and loaded.structure_sets:
            raise BraggdeskError(f"{loaded.path}: structures are shown on a CT or a dose grid; this folder has "
                                 f"neither: open the CT series first (or the folder that holds both)")
        old = self.session
        take_over = loaded.ct is not None and old.ct_placeholder and (
            not old.ct.frame_of_reference_uid or not loaded.ct.frame_of_reference_uid
            or old.ct.frame_of_reference_uid == loaded.ct.frame_of_reference_uid)
        doses = (old.placeholder_doses if take_over else []) + list(loaded.doses)
        for path, grid in doses:  # another frame of reference, or beside the CT: refused, nothing changes
            check_dose_grid_on_ct(grid, ct, path)
        structure_sets = (old.structure_sets if take_over else []) + list(loaded.structure_sets)
        if loaded.ct is not None or placeholder:
            if take_over:
                self.log_line(f"the CT takes over the plans, structures and doses shown on {old.ct.description}")
            elif old.ct is not None:
                self.log_line("a new CT replaces the open patient")
            self.session = Session(ct=ct, ct_source=str(loaded.ct_folder or ""), calibration=loaded.calibration,
                                   plans=list(old.plans) if take_over else [], ct_placeholder=placeholder)
        self.session.plans += loaded.plans
        self.session.structure_sets += structure_sets  # taken over only into a new session
        if self.session.ct_placeholder:
            self.session.placeholder_doses += loaded.doses
        self._show_session(new_ct=loaded.ct is not None or placeholder)
        session = self.session
        if doses or structure_sets:
            self.background.submit(lambda: self._prepare_loaded(ct, doses, structure_sets),
                                   lambda out: self._land_loaded(session, *out),
                                   lambda msg: self.show_error("Cannot show the structures or doses", msg))

    @staticmethod
    def _prepare_loaded(ct, doses, structure_sets) -> tuple[list, list, list]:
        """Background: imported doses onto the CT grid, structures rasterized on it and their 3D surfaces."""
        entries = [DoseEntry(f"RTDOSE {p.name}", resample(vol, ct)) for p, vol in doses]
        for entry in entries:
            entry.max_dose_gy  # noqa: B018 -- scanned here, not on the GUI thread
        masks = [m for ss in structure_sets for m in loaders.rasterize(ss, ct)]
        return entries, masks, [(m, structure_surface(m)) for m in masks if shows_in_3d(m)]

    def _land_loaded(self, session: Session, entries: list[DoseEntry], masks: list[StructureMask],
                     surfaces: list = ()) -> None:
        if session is not self.session:  # another patient was opened meanwhile
            return
        self.view3d.add_structure_surfaces(list(surfaces))
        self.session.add_masks(masks)
        self._live_masks = list(self.session.masks)
        for entry in entries:
            self.session.add_dose(entry)
        self._show_session(new_ct=False)
        self.log_line(f"shown: {self.session.summary()}")

    def open_demo(self, spacing_mm: float = 2.0) -> None:
        """The built-in case with the structures its phantom writes (outline, slabs) and the SOBP's target."""
        from ..compute.demo_structures import demo_target_roi
        from ..io.demo_case import demo_case
        from ..io.phantoms import phantom_structures

        case = demo_case(spacing_mm=spacing_mm)
        structures = phantom_structures(case.phantom)
        structures.rois.append(demo_target_roi(case))
        self.session = Session(ct=case.phantom.volume, ct_source="built-in demo phantom",
                               calibration=case.phantom.calibration, beam_model=case.beam_model, plans=[case.plan],
                               structure_sets=[structures])
        self._live_masks = []
        self._show_session(new_ct=True)
        session, ct = self.session, case.phantom.volume
        self.background.submit(lambda: self._prepare_loaded(ct, [], [structures]),
                               lambda out: self._land_loaded(session, *out),
                               lambda msg: self.show_error("Cannot show the structures", msg))
        self.log_line(f"demo: {case.plan.label} on the '{case.phantom.name}' phantom; {case.phantom.description}")

    def wait_for_background(self, timeout_ms: int = 120_000) -> bool:
        """Until loading work (structures, doses, DVHs) has landed: for tests and --screenshot."""
        ok = self.background.wait(timeout_ms)
        self._flush_stages()
        return ok

    def _apply_display_to_views(self) -> None:
        """The display settings, with the session's visible structures, to the three slice views."""
        self.display.visible_structures = set(self.session.visible_structures)
        for view in self.views.values():
            view.apply_settings(self.display)

    def _show_session(self, new_ct: bool) -> None:
        s = self.session
        self._apply_display_to_views()
        for view in self.views.values():
            if new_ct and s.ct is not None:
                view.set_ct(s.ct)
            view.set_structures(s.masks)
        if new_ct and s.ct is not None:
            self.view3d.set_ct(s.ct)  # the body surface follows from the background
            ct, session = s.ct, s
            self.background.submit(lambda: body_surface(ct),
                                   lambda body: self.view3d.set_body(body) if self.session is session else None,
                                   lambda msg: self.log_line(f"no 3D body surface: {msg}"))
        self.view3d.set_structures(s.masks, s.visible_structures)
        plan = s.plans[-1] if s.plans else None
        try:
            self.view3d.set_plan(plan, s.ct.patient_position if s.ct is not None else "HFS")
        except BraggdeskError as exc:
            self.log_line(f"beams not drawn: {exc}")
        self.tree.refresh(s)
        self._show_dose(full=True)

    # -- recent files and drag and drop -----------------------------------------------
    def recent_paths(self) -> list[str]:
        value = self.qsettings.value("recent_paths", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _remember(self, path: Path) -> None:
        paths = [str(path.resolve())] + [p for p in self.recent_paths() if p != str(path.resolve())]
        self.qsettings.setValue("recent_paths", paths[:MAX_RECENT])
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_paths():
            self.recent_menu.addAction(p, lambda p=p: self.load_path(p))
        self.recent_menu.setEnabled(bool(self.recent_paths()))

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        event.acceptProposedAction()
        self.open_paths(paths)

    def _open_folder_dialog(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a patient folder")
        if folder:
            self.load_path(folder)

    # -- display -------------------------------------------------------------------------
    def apply_display(self, settings: DisplaySettings) -> None:
        self.display = settings
        self._apply_display_to_views()
        self._show_dose(full=False)

    def set_structure_visible(self, name: str, visible: bool) -> None:
        (self.session.visible_structures.add if visible else self.session.visible_structures.discard)(name)
        self._apply_display_to_views()
        self.view3d.set_structures(self.session.masks, self.session.visible_structures)
        self.dvh_plot.set_dvhs([(a.dvh, a.color_rgb) for a in self._analysis], self.session.visible_structures)

    def select_dose(self, index: int) -> None:
        self.session.current_dose = index
        self.tree.refresh(self.session)
        self._show_dose(full=True)

    def set_point(self, point_mm) -> None:
        for view in self.views.values():
            view.set_point(point_mm)

    def reference_dose_gy(self, entry: DoseEntry | None) -> float:
        plan = self.session.plans[-1] if self.session.plans else None
        if self.display.reference_dose_gy:
            return self.display.reference_dose_gy
        if plan is not None and plan.prescription_dose_gy:
            return float(plan.prescription_dose_gy)
        return entry.max_dose_gy if entry is not None else 0.0

    def overlay_values(self, entry: DoseEntry) -> tuple[np.ndarray, float]:
        """(values to wash, their top of scale) for the chosen quantity."""
        q = self.display.quantity
        if q == "uncertainty" and entry.uncertainty is not None:
            return entry.uncertainty * 100.0, self.display.uncertainty_max_percent
        if q == "let" and entry.let_kev_um is not None:
            return entry.let_kev_um, self._let_top(entry)
        return entry.dose_gy, entry.max_dose_gy

    def _let_top(self, entry: DoseEntry) -> float:
        """Top of the LET scale: the highest LETd where the dose is shown (cached: a scan of every voxel)."""
        ref = self.reference_dose_gy(entry)
        key = (id(entry), entry.let_kev_um is not None and id(entry.let_kev_um), self.display.threshold_fraction, ref)
        if self._let_cache[0] != key:
            shown = entry.let_kev_um[entry.dose_gy >= self.display.threshold_fraction * ref]
            self._let_cache = (key, float(shown.max()) if shown.size else 1.0)
        return self._let_cache[1]

    def _show_dose(self, full: bool, staged: bool | None = None) -> None:
        """Draw the current dose.  ``full``: the 3D view and the DVHs too (those in the background).

        ``staged`` (the default for live updates, ``full`` False): one view per turn of the
        event loop, so no single turn holds the GUI for all of them; a newer update replaces
        the stages not drawn yet.
        """
        entry = self.session.dose
        self._stages.clear()
        if entry is None:
            for view in self.views.values():
                view.set_overlay(None, None, 1.0, 1.0)
            self.view3d.set_dose(None, 0.0)
            self._set_analysis([])
            return
        ref = self.reference_dose_gy(entry)
        values, vmax = self.overlay_values(entry)
        steps = [lambda v=view: v.set_overlay(values, entry.dose_gy, vmax, ref) for view in self.views.values()]
        if full:
            self._request_analysis(entry, ref)
            steps.append(lambda: self.view3d.set_dose(entry.dose_gy, ref))
        self._do(steps, staged=not full if staged is None else staged)

    def _do(self, steps: list, staged: bool) -> None:
        """Run ``steps`` now, or one per turn of the event loop after those already waiting."""
        if not staged:
            for step in steps:
                step()
            return
        self._stages.extend(steps)
        if not self._stage_timer.isActive():
            self._stage_timer.start()

    def _next_stage(self) -> None:
        if self._stages:
            self._stages.popleft()()
        if self._stages:
            self._stage_timer.start()

    def _flush_stages(self) -> None:
        while self._stages:
            self._stages.popleft()()

    def _set_analysis(self, analysis: list[StructureAnalysis], reference_gy: float | None = None) -> None:
        self._analysis = analysis
        self.dvh_plot.setUpdatesEnabled(True)
        self.dvh_plot.set_dvhs([(a.dvh, a.color_rgb) for a in analysis], self.session.visible_structures)
        title = f"V95 relative to {reference_gy:.3g} Gy" if reference_gy else ""
        self.stats.set_metrics([(a.name, a.color_rgb, a.metrics) for a in analysis], title)

    def _add_dvh_curve(self, analysis: StructureAnalysis) -> None:
        """One new DVH curve, not painted until the plot gets its data (updates back on in _set_analysis)."""
        self.dvh_plot.setUpdatesEnabled(False)
        self.dvh_plot.ensure_curve(analysis.name, analysis.color_rgb)

    def _analysis_steps(self, analysis: RunAnalysis) -> list:
        """DVH curves not drawn yet are made one per step (pyqtgraph builds a curve and its legend entry
        in 10-20 ms), then every curve and the table are filled; the 3D surfaces, if rebuilt, are swapped in."""
        visible = self.session.visible_structures
        steps = [lambda a=a: self._add_dvh_curve(a) for a in analysis.structures
                 if a.name in visible and not self.dvh_plot.has_curve(a.name)]
        steps.append(lambda: self._set_analysis(analysis.structures, analysis.reference_gy))
        if analysis.surfaces is not None:
            steps.append(lambda: self.view3d.set_dose_surfaces(analysis.surfaces))
        return steps

    def _request_analysis(self, entry: DoseEntry, reference_gy: float) -> None:
        """DVHs and statistics of ``entry`` in the background; dropped if another dose is shown meanwhile."""
        masks = list(self.session.masks)
        if not masks:
            self._set_analysis([])
            return
        self.background.submit(lambda: analyse(entry.dose_gy, masks, reference_gy),
                               lambda out: self._set_analysis(out, reference_gy) if self.session.dose is entry else None,
                               lambda msg: self.show_error("Cannot compute the DVHs", msg), tag="analysis")

    # -- cursor readout ----------------------------------------------------------------
    def value_text(self, point_mm) -> str:
        view = self.views["axial"]
        idx = view.point_to_index(point_mm)
        if idx is None or self.session.ct is None:
            return ""
        parts = [f"({point_mm[0]:.1f}, {point_mm[1]:.1f}, {point_mm[2]:.1f}) mm", f"HU {self.session.ct.hu[idx]:.0f}"]
        entry = self.session.dose
        if entry is not None:
            parts.append(f"dose {entry.dose_gy[idx]:.4g} Gy")
            if entry.uncertainty is not None:
                parts.append(f"uncertainty {100 * entry.uncertainty[idx]:.2f} %")
            if entry.let_kev_um is not None:
                parts.append(f"LETd {entry.let_kev_um[idx]:.2f} keV/um")
        return "   ".join(parts)

    def _on_hover(self, point_mm) -> None:
        self.cursor_label.setText("" if point_mm is None else self.value_text(point_mm))

    # -- running -----------------------------------------------------------------------
    def make_job(self, settings: SimulationSettings) -> Job:
        s = self.session
        if s.ct is None:
            raise BraggdeskError("no CT is loaded: open a patient folder (File > Open folder) or the demo case")
        if s.ct_placeholder:
            raise BraggdeskError(f"no CT is loaded ({s.ct.description}); the views use the dose grid, which "
                                 f"cannot be simulated: open the CT series the plan was made on")
        if not s.plans:
            raise BraggdeskError("no RT Ion Plan is loaded: open the plan's file or a folder that holds it")
        from ..io.beam_model import read_beam_model
        from ..io.ct_calibration import read_ct_calibration

        model = s.beam_model or read_beam_model(None)
        calibration = s.calibration
        if calibration is None:
            calibration = read_ct_calibration("schneider")
            self.log_line("no calibration next to the CT: using the built-in Schneider HU calibration")
        return Job.create(s.ct, s.plans[-1], model, calibration, settings)

    def start_run(self, settings: SimulationSettings, runner_key: str = "local", target: str = "") -> bool:
        """Start a run; False (and a dialog) when it cannot start.

        A runner whose choice says it is slow to build (the local one probes for a GPU)
        is built in the run's worker thread; its errors (no GPU) come back as a dialog.
        """
        if self.controller.running:
            return False
        try:
            job = self.make_job(settings)
            choice = runner_choice(runner_key)
            if choice.build_in_worker:
                source = lambda: choice.make(job, target, None)  # noqa: E731 -- called in the worker thread
                if getattr(job.settings, "engine", "full") == "track-repeat":
                    source = self._with_track_database(job, source)
            else:
                source = choice.make(job, target, self.qsettings)
        except (BraggdeskError, ValueError) as exc:
            self.show_error("Cannot start", str(exc))
            return False
        self.timings = {"start": time.perf_counter()}
        self.live_updates = 0
        self._running_index = -1
        self.run_panel.set_running(True)
        self.log_line(f"run: {job.settings.primaries or 'target'} primaries, {choice.label.lower()}")
        ref_fixed = self.session.plans[-1].prescription_dose_gy
        self._live_masks = list(self.session.masks)
        last_3d = [-math.inf]
        ct = job.ct
        interval_3d = self.live_3d_interval()

        def post(result: DoseResult, final: bool) -> RunAnalysis:  # worker thread: off the GUI thread
            # the masks as they are now: structures that finish rasterizing during the run join in
            ref = ref_fixed or result.max_dose_gy
            analysis = RunAnalysis(analyse(result.dose_gy, self._live_masks, ref), ref)
            now = time.perf_counter()
            if final or (math.isfinite(interval_3d) and now - last_3d[0] >= interval_3d):
                analysis.surfaces = dose_surfaces(result.dose_gy, ct, self.display.reference_dose_gy or ref)
                last_3d[0] = now
            return analysis

        self.controller.min_interval_s = max(MIN_UPDATE_INTERVAL_S, UPDATE_SECONDS_PER_VOXEL * job.ct.hu.size)
        self.controller.start(source, post)
        return True

    def _with_track_database(self, job, make_runner):
        """The runner source, preceded in the worker thread by recording the track database's energies the
        job needs for the first time, its progress in the run panel (a remote node records its own)."""

        def source():
            from ..engine.tracks.prepare import ensure_job_tracks

            ensure_job_tracks(job, progress=self.tracksProgress.emit)
            return make_runner()

        return source

    def live_3d_interval(self) -> float:
        """Seconds between live 3D dose surfaces in the next run (math.inf: at its end only)."""
        if self.live_3d_interval_s is not None:
            return self.live_3d_interval_s
        return math.inf if self.view3d.software_rendering else LIVE_3D_INTERVAL_S

    def _on_started(self, runner) -> None:
        self.log_line(f"running on {runner.device} ({runner.kind})")

    def cancel_run(self) -> None:
        if self.controller.running:
            self.log_line("cancelling: the batches running now finish, the partial dose is kept")
            self.controller.cancel()

    def _apply_result(self, update: RunUpdate, running: bool) -> DoseEntry:
        entry = DoseEntry.of_result("MC dose", update.result, running=running, max_gy=update.max_dose_gy)
        if 0 <= self._running_index < len(self.session.doses):
            self.session.doses[self._running_index] = entry
            self.session.current_dose = self._running_index
        else:
            self._running_index = self.session.add_dose(entry)
            self.tree.refresh(self.session)
        return entry

    def _on_update(self, update: RunUpdate) -> None:
        """A live dose: the three slice views, one per turn of the event loop."""
        self._apply_result(update, running=True)
        self._show_dose(full=False, staged=True)
        self.run_panel.show_progress(update.progress)
        self.live_updates += 1
        if "first_dose" not in self.timings:  # on screen once the first view has drawn it
            self._stages.insert(1, lambda: self.timings.setdefault("first_dose", time.perf_counter()))

    def _on_analysed(self, update: RunUpdate) -> None:
        """The DVHs, statistics and (now and then) 3D surfaces of a live dose, after its slices."""
        if update.extra is not None and self.controller.running:
            self._do(self._analysis_steps(update.extra), staged=True)

    def _on_finished(self, final: RunUpdate | None) -> None:
        """The final dose, drawn in stages like a live one (the 3D surfaces come ready from the worker)."""
        self.run_panel.set_running(False)
        if final is None:
            self.run_panel.show_done("no batch finished")
            self.runFinished.emit(None)
            return
        entry = self._apply_result(final, running=False)
        self._show_dose(full=False, staged=True)
        if final.extra is not None:
            self._do(self._analysis_steps(final.extra), staged=True)
        else:  # the worker could not analyse (it failed after the last batch): in the background
            self._request_analysis(entry, self.reference_dose_gy(entry))
            self._do([lambda: self.view3d.set_dose(entry.dose_gy, self.reference_dose_gy(entry))], staged=True)
        self._do([lambda: self.tree.refresh(self.session)], staged=True)
        self.timings.setdefault("first_dose", time.perf_counter())
        self.timings["done"] = time.perf_counter()
        p = final.progress
        unc = "n/a" if not math.isfinite(p.mean_uncertainty) else f"{100 * p.mean_uncertainty:.2f} %"
        text = (f"{'PARTIAL: cancelled after ' if entry.partial else 'done: '}{p.primaries:,} primaries in "
                f"{p.elapsed_s:.1f} s ({p.primaries_per_second:,.0f}/s), uncertainty {unc}")
        self.run_panel.show_progress(p)
        self.run_panel.show_done(text)
        self.log_line(text)
        for note in final.result.notes:
            self.log_line(f"note: {note}")
        self.runFinished.emit(entry)

    # -- export ------------------------------------------------------------------------
    def save_png(self, path, widget: QtWidgets.QWidget | None = None) -> Path:
        return save_png(widget or self, path)

    def _save_png_dialog(self, widget) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save PNG", "braggdesk.png", "PNG (*.png)")
        if path:
            try:
                self.save_png(path, widget)
            except OSError as exc:
                self.show_error("Cannot save", str(exc))

    def export_rtdose(self, path) -> Path:
        from ..io.rtdose import write_rtdose

        entry = self.session.dose
        if entry is None or self.session.ct is None:
            raise BraggdeskError("no dose to export: run a calculation or open an RTDOSE first")
        grid = self.session.ct.with_hu(entry.dose_gy, description=entry.title)
        plan = self.session.plans[-1] if self.session.plans else None
        comment = f"braggdesk {entry.title}" + (" - PARTIAL, cancelled run" if entry.partial else "")
        return write_rtdose(entry.dose_gy, grid, path, plan=plan, ct=self.session.ct, comment=comment)

    def _export_rtdose_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export RTDOSE", "RD_braggdesk.dcm", "DICOM (*.dcm)")
        if path:
            try:
                self.log_line(f"wrote {self.export_rtdose(path)}")
            except (BraggdeskError, OSError) as exc:
                self.show_error("Cannot export", str(exc))

    # -- closing -------------------------------------------------------------------------
    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        """Stop a running calculation cleanly (between batches), then close the VTK window."""
        if self.controller.running:
            self.log_line("closing: stopping the calculation")
            self.controller.stop()
        self._stages.clear()
        self._stage_timer.stop()
        self.background.shutdown()
        self.view3d.shutdown()
        for box in self.error_dialogs:
            box.close()
        super().closeEvent(event)
