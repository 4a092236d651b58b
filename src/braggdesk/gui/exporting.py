"""File > Export and each view's context menu: what the window shows, written by workflow/exports.py.

Why here and thin: the files are the ones ``braggdesk export`` and ``bd.export_*`` write
(same functions); this module only picks what the window shows (the current dose, its
uncertainty and LETd, the DVHs and metrics of the shown dose) and asks where to put it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from ..errors import BraggdeskError
from ..workflow import exports
from .screenshot import save_picture

MAP_FILTER = "NRRD (*.nrrd);;MetaImage (*.mhd)"
PICTURE_FILTER = "PNG (*.png);;SVG (*.svg)"


class Exporter:
    """The window's exports: one method per file kind, each usable without a dialog (tests, scripts)."""

    def __init__(self, window):
        self.window = window

    # -- what the window shows, written ------------------------------------------------
    def _entry(self):
        w = self.window
        entry = w.session.dose
        if entry is None or w.session.ct is None:
            raise BraggdeskError("no dose to export: run a calculation or open an RTDOSE first")
        return entry

    def map(self, path, quantity: str) -> Path:
        """The shown dose's ``dose``, ``uncertainty`` (relative) or ``let`` (keV/um) map, NRRD or MHD."""
        entry = self._entry()
        values = {"dose": entry.dose_gy, "uncertainty": entry.uncertainty, "let": entry.let_kev_um}[quantity]
        if values is None:
            raise BraggdeskError(f"{entry.title} has no {exports.QUANTITIES[quantity].label} map (an imported dose "
                                 f"has only the dose)")
        return exports.write_map(path, values, self.window.session.ct, quantity)

    def dvh_csv(self, path) -> Path:
        """The DVH curves the DVH plot shows."""
        return exports.write_dvh_csv(path, self._analysis())

    def metrics_csv(self, path) -> Path:
        """The statistics table."""
        return exports.write_metrics_csv(path, self._analysis())

    def _analysis(self):
        analysis = self.window.shown_analysis
        if not analysis:
            raise BraggdeskError("no DVHs are shown: open structures and a dose first")
        return analysis

    def rtdose(self, path) -> Path:
        from ..io.rtdose import write_rtdose

        entry = self._entry()
        session = self.window.session
        grid = session.ct.with_values(entry.dose_gy, description=entry.title)
        plan = session.plans[-1] if session.plans else None
        comment = f"braggdesk {entry.title}" + (" - PARTIAL, cancelled run" if entry.partial else "")
        return write_rtdose(entry.dose_gy, grid, path, plan=plan, ct=session.ct, summation=_summation(entry, plan),
                            comment=comment)

    def rbe_rtdose(self, path) -> Path:
        """The RBE-weighted dose with the RBE panel's settings (what the views show with the toggle on RBE),
        as an RT Dose of DoseType EFFECTIVE."""
        from ..io.rtdose import write_rtdose

        entry = self._entry()
        w = self.window
        rbe_gy = w.shown.rbe_gy(entry.dose_gy, entry.let_kev_um, w.session.masks)
        plan = w.session.plans[-1] if w.session.plans else None
        return write_rtdose(rbe_gy, w.session.ct, path, plan=plan, ct=w.session.ct, dose_type="EFFECTIVE",
                            summation=_summation(entry, plan), comment=w.shown.settings.describe()[:64])

    # -- menus ---------------------------------------------------------------------------
    def build_menu(self, menu: QtWidgets.QMenu) -> QtWidgets.QMenu:
        """File > Export: every file the window can write, in one place."""
        export = menu.addMenu("&Export")
        export.addAction("Dose as &RTDOSE...", lambda: self._ask(self.rtdose, "RD_braggdesk.dcm", "DICOM (*.dcm)"))
        export.addAction("RBE-weighted dose as RTDOSE (EFFECTIVE)...",
                         lambda: self._ask(self.rbe_rtdose, "RD_braggdesk_rbe.dcm", "DICOM (*.dcm)"))
        for quantity, label in (("dose", "&Dose map"), ("uncertainty", "&Uncertainty map"), ("let", "&LETd map")):
            export.addAction(f"{label} (NRRD, MHD)...", lambda q=quantity: self._ask(
                lambda p: self.map(p, q), f"{q}.nrrd", MAP_FILTER))
        export.addAction("D&VH curves as CSV...", lambda: self._ask(self.dvh_csv, "dvh.csv", "CSV (*.csv)"))
        export.addAction("&Metrics as CSV...", lambda: self._ask(self.metrics_csv, "metrics.csv", "CSV (*.csv)"))
        export.addSeparator()
        export.addAction("&Window as PNG or SVG...", lambda: self.ask_picture(self.window))
        views = export.addMenu("&View as PNG or SVG")
        for name, widget in self.views().items():
            views.addAction(name, lambda v=widget: self.ask_picture(v))
        return export

    def views(self) -> dict[str, QtWidgets.QWidget]:
        w = self.window
        return {**{name.capitalize(): v for name, v in w.views.items()}, "3D": w.view3d, "DVH": w.dvh_plot}

    def add_context_menus(self) -> None:
        """Right-click on a view saves it: the widget's own context menu, and, where a plot area has pyqtgraph's
        menu (the DVH), the same entry at the top of that menu, so the click lands on it wherever it is."""
        for name, view in self.views().items():
            view.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.ActionsContextMenu)
            action = QtGui.QAction(f"Save {name} view as PNG or SVG...", view)
            action.triggered.connect(lambda _=False, v=view: self.ask_picture(v))
            view.addAction(action)
            for menu in plot_area_menus(view):
                first = menu.actions()[0] if menu.actions() else None
                menu.insertAction(first, action)
                menu.insertSeparator(first)


def plot_area_menus(widget: QtWidgets.QWidget) -> list[QtWidgets.QMenu]:
    """The context menus of the pyqtgraph plot areas (ViewBoxes with their menu on) in ``widget``'s scene."""
    scene = widget.scene() if isinstance(widget, QtWidgets.QGraphicsView) else None
    if scene is None:
        return []
    return [item.menu for item in scene.items()
            if isinstance(getattr(item, "menu", None), QtWidgets.QMenu) and hasattr(item, "menuEnabled")
            and item.menuEnabled()]

    def ask_picture(self, widget: QtWidgets.QWidget) -> None:
        self._ask(lambda p: save_picture(widget, p), "braggdesk.png", PICTURE_FILTER)

    def _ask(self, write, default: str, filters: str) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self.window, "Export", default, filters)
        if path:
            try:
                self.window.log_line(f"wrote {write(path)}")
            except (BraggdeskError, OSError) as exc:
                self.window.show_error("Cannot export", str(exc))


def _summation(entry, plan) -> str:
    """An entry of one fraction's dose (a run) is a FRACTION of a plan of several; a course dose (the planning
    panel's final dose, most imported doses) the PLAN's."""
    from ..io.rtdose import computed_summation

    return computed_summation(plan) if entry.per_fraction else "PLAN"
