"""DVH curves of the visible structures, with a readout of dose and volume under the cursor.

Solid curves show the dose on screen; a second, dashed set shows another estimate of the
same plan beside it (the planning optimiser's dose from the dose-influence matrix), so the
difference between the two is visible at a glance.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore

from ..analysis.dvh import Dvh


class DvhPlot(pg.PlotWidget):
    """One curve per structure, created once and updated with ``setData`` during a run."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground("w")
        self._dose_label = "Dose [Gy]"
        self.setLabel("bottom", self._dose_label)
        self.setLabel("left", "Volume [%]")
        # grid lines as one static curve: pyqtgraph's axis grid (showGrid) makes the axes repaint, tick
        # labels and all (about 8 ms), whenever a curve changes, i.e. after every live update
        self._grid = pg.PlotCurveItem(pen=pg.mkPen((210, 210, 210), width=1), connect="pairs")
        self._grid.setZValue(-10)
        self.addItem(self._grid, ignoreBounds=True)
        self.setYRange(0, 102)
        self.addLegend(offset=(-10, 10))
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._dvhs: dict[str, Dvh] = {}
        self.readout = pg.TextItem("", color=(0, 0, 0), anchor=(0, 1))
        self.addItem(self.readout, ignoreBounds=True)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.last_readout = ""
        self._x_max = 0.0
        self._dashed: dict[str, pg.PlotDataItem] = {}
        self._tops = {"solid": 0.0, "dashed": 0.0}

    def has_curve(self, name: str) -> bool:
        return name in self._curves

    def set_dose_label(self, label: str) -> None:
        """The dose axis's title (physical or RBE-weighted dose).  Set only when it changes: a new title
        re-lays the whole plot out and repaints its axes, which live updates must not pay for each time."""
        if label != self._dose_label:
            self._dose_label = label
            self.setLabel("bottom", label)

    def ensure_curve(self, name: str, color: tuple[int, int, int]) -> None:
        """The (empty) curve and legend entry of a structure: 10-20 ms each, so a caller may spread them out."""
        if name not in self._curves:
            self._curves[name] = self.plot(name=name, pen=pg.mkPen(color, width=2))

    def set_dvhs(self, dvhs: list[tuple[Dvh, tuple[int, int, int]]], visible: set[str]) -> None:
        """(DVH, colour) of every structure; those named in ``visible`` are drawn."""
        shown = {d.name: (d, color) for d, color in dvhs if d.name in visible}
        for name in list(self._curves):
            if name not in shown:
                self.removeItem(self._curves.pop(name))
                legend = self.getPlotItem().legend
                if legend is not None:
                    legend.removeItem(name)
        top = 0.0
        for name, (dvh, color) in shown.items():
            self.ensure_curve(name, color)
            self._curves[name].setData(dvh.bin_edges_gy, dvh.cumulative_percent)
            top = max(top, float(dvh.bin_edges_gy[-1]) if len(dvh.bin_edges_gy) else 0.0)
        self._dvhs = {name: dvh for name, (dvh, _) in shown.items()}
        self._tops["solid"] = top
        self._set_dose_range(max(self._tops.values()))

    def dashed_names(self) -> list[str]:
        return list(self._dashed)

    def set_dashed_dvhs(self, dvhs: list[tuple[Dvh, tuple[int, int, int]]], visible: set[str] | None = None,
                        suffix: str = " (Dij)") -> None:
        """The dashed set: (DVH, colour) per structure, legend names with ``suffix``; ``set_dvhs`` leaves it alone."""
        shown = {d.name: (d, color) for d, color in dvhs if visible is None or d.name in visible}
        legend = self.getPlotItem().legend
        for name in list(self._dashed):
            if name not in shown:
                item = self._dashed.pop(name)
                self.removeItem(item)
                if legend is not None:
                    legend.removeItem(item)
        top = 0.0
        for name, (dvh, color) in shown.items():
            if name not in self._dashed:
                pen = pg.mkPen(color, width=2, style=QtCore.Qt.PenStyle.DashLine)
                self._dashed[name] = self.plot(name=name + suffix, pen=pen)
            self._dashed[name].setData(dvh.bin_edges_gy, dvh.cumulative_percent)
            top = max(top, float(dvh.bin_edges_gy[-1]) if len(dvh.bin_edges_gy) else 0.0)
        self._tops["dashed"] = top
        self._set_dose_range(max(self._tops.values()))

    def _set_dose_range(self, top_gy: float) -> None:
        """The dose axis to a round number above ``top_gy``, changed only when that number changes.

        Auto-ranging to the data would move the axis after every live update, and
        pyqtgraph then re-lays out and redraws the axis ticks each time (tens of ms).
        """
        if top_gy <= 0:
            return
        step = 10 ** np.floor(np.log10(top_gy))
        nice = next(m * step for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * step >= top_gy)
        if nice != self._x_max:
            self._x_max = nice
            self.setXRange(0, nice, padding=0.02)
            volumes = np.repeat(np.arange(10.0, 101.0, 10.0), 2)  # every 10 % of the volume
            doses = np.tile([0.0, nice], len(volumes) // 2)
            self._grid.setData(doses, volumes)

    def readout_at(self, dose_gy: float) -> str:
        """'name: V(d) %' for every shown structure at a dose: what hovering shows, exact from the voxels."""
        parts = [f"{name}: {100 * dvh.volume_fraction_at_dose(dose_gy):.1f} %" for name, dvh in self._dvhs.items()]
        return f"{dose_gy:.3g} Gy  " + "  ".join(parts) if parts else ""

    def _on_mouse_moved(self, scene_pos) -> None:
        vb = self.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(scene_pos):
            return
        p = vb.mapSceneToView(scene_pos)
        self.last_readout = self.readout_at(max(p.x(), 0.0))
        self.readout.setText(self.last_readout)
        self.readout.setPos(p.x(), p.y())

    def sizeHint(self):  # noqa: N802
        return QtCore.QSize(400, 260)
