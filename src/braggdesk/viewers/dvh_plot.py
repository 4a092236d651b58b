"""DVH curves of the visible structures, with a readout of dose and volume under the cursor."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore

from ..analysis.dvh_basic import Dvh


class DvhPlot(pg.PlotWidget):
    """One curve per structure, created once and updated with ``setData`` during a run."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground("w")
        self.setLabel("bottom", "Dose [Gy]")
        self.setLabel("left", "Volume [%]")
        self.showGrid(x=True, y=True, alpha=0.3)
        self.setYRange(0, 102)
        self.addLegend(offset=(-10, 10))
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._dvhs: dict[str, Dvh] = {}
        self.readout = pg.TextItem("", color=(0, 0, 0), anchor=(0, 1))
        self.addItem(self.readout, ignoreBounds=True)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.last_readout = ""

    def set_dvhs(self, dvhs: list[Dvh], visible: set[str]) -> None:
        shown = {d.name: d for d in dvhs if d.name in visible}
        for name in list(self._curves):
            if name not in shown:
                self.removeItem(self._curves.pop(name))
                legend = self.getPlotItem().legend
                if legend is not None:
                    legend.removeItem(name)
        for name, dvh in shown.items():
            curve = self._curves.get(name)
            if curve is None:
                curve = self.plot(name=name, pen=pg.mkPen(dvh.color_rgb, width=2))
                self._curves[name] = curve
            curve.setData(dvh.dose_gy, 100 * dvh.volume_fraction)
        self._dvhs = shown

    def readout_at(self, dose_gy: float) -> str:
        """'name: V(d) %' for every shown structure at a dose: what hovering shows."""
        parts = []
        for name, dvh in self._dvhs.items():
            v = float(np.interp(dose_gy, dvh.dose_gy, dvh.volume_fraction, right=0.0))
            parts.append(f"{name}: {100 * v:.1f} %")
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
