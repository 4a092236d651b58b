"""The braggdesk workstation window: patient tree, three slice views, 3D view, DVH, statistics, run panel.

The window holds a :class:`Session` (what is loaded), builds the widgets and wires them to it.
What it does is in three mixins, one job each: loading (gui/window_loading.py), drawing
(gui/window_display.py) and running (gui/window_running.py); the rules behind them (what a
folder holds, how it joins the session, the job's defaults, the runner target) are workflow/'s,
Qt-free, shared with the command line and the Python API; exports are gui/exporting.py's.
Every error from the layers below lands in :meth:`show_error` (a dialog) and leaves the
session as it was.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from ..model import StructureMask
from ..viewers.display import DisplaySettings
from ..viewers.dvh_plot import DvhPlot
from ..viewers.slice_view import SliceView
from ..viewers.stats_table import StatsTable
from ..viewers.view3d import View3D
from ..workflow.session import Session
from ..workflow.structure_stats import StructureAnalysis
from .background import Background
from .display_panel import DisplayPanel
from .engine_warmup import EngineWarmUp
from .exporting import Exporter
from .planning_panel import PlanningPanel
from .rbe_panel import RbePanel
from .robustness_panel import RobustnessPanel
from .run_panel import RunPanel
from .screenshot import save_png
from .shown_dose import ShownDose
from .tree import PatientTree
from .window_display import DisplayMixin
from .window_loading import LoadingMixin
from .window_running import RunningMixin
from .run_thread import RunController


class MainWindow(LoadingMixin, DisplayMixin, RunningMixin, QtWidgets.QMainWindow):
    runFinished = QtCore.Signal(object)  # the final DoseEntry, or None
    sessionChanged = QtCore.Signal()  # what is loaded changed (the planning panel follows)
    tracksProgress = QtCore.Signal(float, int, int)  # track database recording before a run: energy, done, total

    def __init__(self, settings: QtCore.QSettings | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("braggdesk")
        self.resize(1400, 900)
        self.setAcceptDrops(True)
        self.qsettings = settings or QtCore.QSettings("braggdesk", "braggdesk")
        self.session = Session()
        self.display = DisplaySettings()
        self.shown = ShownDose()  # physical or RBE-weighted: the dose every view shows
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
        self.rbe_panel = RbePanel(self.shown.settings)
        self.run_panel = RunPanel(settings=self.qsettings)
        self.dvh_plot = DvhPlot()
        self.stats = StatsTable()
        self.log = QtWidgets.QPlainTextEdit()
        self.log.setReadOnly(True)
        left = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        left.addWidget(self.tree)
        left.addWidget(self.display_panel)
        left.addWidget(self.rbe_panel)
        self._dock("Patient", left, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        run_dock = self._dock("Run", self.run_panel, QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self.planning_panel = PlanningPanel(self)
        self.tabifyDockWidget(run_dock, self._dock("Planning", self.planning_panel,
                                                   QtCore.Qt.DockWidgetArea.RightDockWidgetArea))
        self.robustness_panel = RobustnessPanel(self)
        self.robustness_dock = self._dock("Robustness", self.robustness_panel,
                                          QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(run_dock, self.robustness_dock)
        run_dock.raise_()
        bottom = QtWidgets.QTabWidget()
        bottom.addTab(self.dvh_plot, "DVH")
        bottom.addTab(self.stats, "Statistics")
        bottom.addTab(self.log, "Log")
        self.bottom_tabs = bottom
        self._dock("Review", bottom, QtCore.Qt.DockWidgetArea.BottomDockWidgetArea)
        self.cursor_label = QtWidgets.QLabel("")
        self.statusBar().addPermanentWidget(self.cursor_label, 1)
        self.exporter = Exporter(self)
        self._build_menus()
        self.exporter.add_context_menus()

        for view in self.views.values():
            view.pointPicked.connect(self.set_point)
            view.hovered.connect(self._on_hover)
        self.tree.structureToggled.connect(self.set_structure_visible)
        self.tree.doseSelected.connect(self.select_dose)
        self.display_panel.changed.connect(self.apply_display)
        self.rbe_panel.changed.connect(self.apply_rbe)
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
        self.exporter.build_menu(file)
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

    # -- export (gui/exporting.py: File > Export, the views' context menus) -------------
    def save_png(self, path, widget: QtWidgets.QWidget | None = None) -> Path:
        return save_png(widget or self, path)

    @property
    def shown_analysis(self) -> list[StructureAnalysis]:
        """The DVHs and metrics the DVH plot and the statistics table show now."""
        return list(self._analysis)

    # -- closing -------------------------------------------------------------------------
    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        """Stop a running calculation cleanly (between batches), then close the VTK window."""
        if self.controller.running:
            self.log_line("closing: stopping the calculation")
            self.controller.stop()
        self.planning_panel.shutdown()
        self.robustness_panel.shutdown()
        self._stages.clear()
        self._stage_timer.stop()
        self.background.shutdown()
        self.view3d.shutdown()
        for box in self.error_dialogs:
            box.close()
        super().closeEvent(event)
