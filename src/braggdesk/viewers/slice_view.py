"""One slice view (axial, coronal or sagittal) of the CT with dose wash, isodoses and contours.

Create once, update many: every graphics item is built in ``__init__`` and later
calls only replace their data, so a live run costs a slice extraction and a
colour lookup per update.  The view speaks patient millimetres: it emits the
point under a click (``pointPicked``) or under the cursor (``hovered``), and the
window links the three views through :meth:`set_point`.  Grids are assumed axis
aligned (the CT reader refuses tilted series).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore

from ..model import StructureMask, Volume
from .display import DOSE_QUANTITIES, ISODOSE_COLORS, DisplaySettings, color_lut, overlay_rgba

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

BODY_HU = -400.0  # above this a voxel is patient (or couch), below it air: what a new CT's views frame
_BODY_SAMPLES = 2_000_000  # voxels looked at to find the body's box (a strided view of a big CT)
VIEW_MARGIN_MM = 10.0
_FIND = object()  # SliceView.set_ct: look for the body box


def body_box_mm(ct: Volume) -> tuple[np.ndarray, np.ndarray] | None:
    """(lowest, highest) patient (x, y, z) of the voxel centres above BODY_HU, from a strided look at
    the CT (a few ms for any size), or None if there are none (a phantom of air)."""
    values = ct.hu
    stride = max(1, int(np.ceil((values.size / _BODY_SAMPLES) ** (1 / 3))))
    body = values[::stride, ::stride, ::stride] > BODY_HU
    if not body.any():
        return None
    coords = [c[::stride] for c in ct.axis_coordinates_mm()[::-1]]  # along k, j, i
    lo, hi = [], []
    for axis in (2, 1, 0):  # patient x, y, z = array i, j, k
        other = tuple(a for a in range(3) if a != axis)
        hit = np.nonzero(body.any(axis=other))[0]
        ends = coords[axis][[hit[0], hit[-1]]]
        lo.append(float(ends.min()))
        hi.append(float(ends.max()))
    return np.array(lo), np.array(hi)


class IsoLine(pg.PlotCurveItem):
    """Iso-lines of a 2-D array in its pixel coordinates, traced by contourpy (C++), drawn as one path.

    pyqtgraph's IsocurveItem traces in Python at paint time, which stalls the
    event loop for hundreds of ms on a noisy live dose; this traces once per update.
    """

    def __init__(self, pen):
        super().__init__(pen=pen, connect="finite")

    def set_level(self, data: np.ndarray, level: float) -> None:
        import contourpy

        if not np.isfinite(level) or data.size < 4 or not (data.min() < level < data.max()):
            self.setData([], [])
            return
        lines = contourpy.contour_generator(z=data, line_type="Separate").lines(level)
        if not lines:
            self.setData([], [])
            return
        # pixel centres are at +0.5 in ImageItem coordinates; NaN rows break the path between lines
        pts = np.concatenate([np.vstack([ln, [np.nan, np.nan]]) for ln in lines]) + 0.5
        self.setData(pts[:, 0], pts[:, 1], connect="finite")


@dataclass(frozen=True)
class Orientation:
    name: str
    fixed_axis: int  # array axis held fixed (0 = k, 1 = j, 2 = i)
    row_axis: int
    col_axis: int
    invert_y: bool

    @staticmethod
    def patient_axis(array_axis: int) -> int:
        """Array axis k, j, i -> patient z, y, x (index 2, 1, 0)."""
        return 2 - array_axis


ORIENTATIONS = {
    "axial": Orientation("axial", 0, 1, 2, True),
    "coronal": Orientation("coronal", 1, 0, 2, False),
    "sagittal": Orientation("sagittal", 2, 0, 1, False),
}


class _SliceViewBox(pg.ViewBox):
    """Wheel scrolls slices; Ctrl+wheel zooms; left drag pans (the ViewBox default)."""

    def __init__(self, view: "SliceView"):
        super().__init__(lockAspect=True)
        self._view = view

    def wheelEvent(self, ev, axis=None):  # noqa: N802 (Qt naming)
        if ev.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis)
            return
        delta = ev.delta() if hasattr(ev, "delta") else ev.angleDelta().y()
        self._view.scroll(1 if delta > 0 else -1)
        ev.accept()


class SliceView(pg.GraphicsLayoutWidget):
    pointPicked = QtCore.Signal(object)  # patient (x, y, z) mm
    hovered = QtCore.Signal(object)  # patient (x, y, z) mm, or None when outside
    sliceChanged = QtCore.Signal(int)

    def __init__(self, orientation: str, parent=None):
        super().__init__(parent)
        self.orientation = ORIENTATIONS[orientation]
        self.setBackground("k")
        self.box = _SliceViewBox(self)
        self.box.invertY(self.orientation.invert_y)
        self.box.setMenuEnabled(False)
        self.addItem(self.box)
        self.ct_item = pg.ImageItem(axisOrder="row-major")
        self.wash_item = pg.ImageItem(axisOrder="row-major")
        self.box.addItem(self.ct_item)
        self.box.addItem(self.wash_item)
        self.wash_item.setZValue(1)
        self._isodoses: list[IsoLine] = []
        self._contours: dict[str, IsoLine] = {}
        self.label = pg.TextItem(orientation, color=(220, 220, 220), anchor=(0, 0))
        self.label.setParentItem(self.box)
        self.label.setPos(4, 2)
        pen = pg.mkPen((255, 255, 0, 160), width=1, style=QtCore.Qt.PenStyle.DashLine)
        self.vline = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self.hline = pg.InfiniteLine(angle=0, movable=False, pen=pen)
        for line in (self.vline, self.hline):
            line.setZValue(10)
            self.box.addItem(line, ignoreBounds=True)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.ct: Volume | None = None
        self._body_box: tuple[np.ndarray, np.ndarray] | None = None  # the CT's body, what a new CT is framed by
        self._coords: list[np.ndarray] = []
        self.index = 0
        self._point = np.zeros(3)
        self._values: np.ndarray | None = None  # overlay on the CT grid
        self._dose: np.ndarray | None = None  # for thresholds and isodoses
        self._vmax = 1.0
        self._ref_gy = 1.0
        self._masks: list[StructureMask] = []
        self._contoured: set[str] = set()  # the visible structures the contours were last traced for
        self.settings = DisplaySettings()
        self._lut = color_lut(self.settings.color_map)
        self.overlay_updates = 0  # how many times the wash was redrawn with data (tests, measurements)

    # -- data ------------------------------------------------------------------------
    def set_ct(self, ct: Volume, body_box: tuple[np.ndarray, np.ndarray] | None | object = _FIND) -> None:
        """Show a new CT, framed by its body: ``body_box`` as :func:`body_box_mm` gives it (the window finds it
        once for its three views), or found here."""
        self.ct = ct
        self._body_box = body_box_mm(ct) if body_box is _FIND else body_box
        n = ct.shape
        # patient coordinate of each voxel centre along array axes k, j, i
        self._coords = list(ct.axis_coordinates_mm()[::-1])
        self._values = self._dose = None
        self._masks = []
        self.index = n[self.orientation.fixed_axis] // 2
        self._point = np.array([self._coords[2][n[2] // 2], self._coords[1][n[1] // 2], self._coords[0][n[0] // 2]])
        self.wash_item.clear()
        self._redraw_ct()
        self._redraw_structures()
        self._redraw_overlay()
        self._update_crosshair()
        self.box.autoRange(padding=0.02)
        self.frame_body()

    def frame_body(self) -> None:
        """Show the patient, not the whole field of view: the body's box plus a margin (a head in a CT
        reconstructed 50 cm wide fills a third of it otherwise); Ctrl+wheel zooms out, a double click
        comes back here."""
        box = self._body_box if self.ct is not None else None
        if box is None:
            return
        lo, hi = box
        o = self.orientation
        cx, cy = Orientation.patient_axis(o.col_axis), Orientation.patient_axis(o.row_axis)
        full = self._rect()
        rect = QtCore.QRectF(lo[cx] - VIEW_MARGIN_MM, lo[cy] - VIEW_MARGIN_MM,
                             hi[cx] - lo[cx] + 2 * VIEW_MARGIN_MM, hi[cy] - lo[cy] + 2 * VIEW_MARGIN_MM)
        self.box.setRange(rect.intersected(full), padding=0.02)

    def set_overlay(self, values: np.ndarray | None, dose_gy: np.ndarray | None, vmax: float, reference_gy: float) -> None:
        """The wash values (dose, uncertainty in % or LET) and the dose itself, both on the CT grid."""
        self._values, self._dose, self._vmax, self._ref_gy = values, dose_gy, vmax, reference_gy
        self._redraw_overlay()

    def set_structures(self, masks: list[StructureMask]) -> None:
        self._masks = list(masks)
        self._redraw_structures()
        if self.settings.body_only:  # an EXTERNAL structure that arrives after the dose limits its wash
            self._redraw_overlay()

    def apply_settings(self, settings: DisplaySettings) -> None:
        if settings.color_map != self.settings.color_map:
            self._lut = color_lut(settings.color_map)
        self.settings = settings
        self.ct_item.setLevels(settings.ct_levels)
        if settings.visible_structures != self._contoured:  # contours depend on nothing else here
            self._redraw_structures()
        self._redraw_overlay()

    # -- navigation ------------------------------------------------------------------
    @property
    def n_slices(self) -> int:
        return 0 if self.ct is None else self.ct.shape[self.orientation.fixed_axis]

    def scroll(self, step: int) -> None:
        if self.ct is None:
            return
        axis = self.orientation.fixed_axis
        self.set_index(int(np.clip(self.index + step, 0, self.n_slices - 1)))
        self._point[Orientation.patient_axis(axis)] = self._coords[axis][self.index]
        self.pointPicked.emit(tuple(self._point))

    def set_index(self, index: int) -> None:
        if self.ct is None or index == self.index:
            return
        self.index = index
        self._redraw_ct()
        self._redraw_structures()
        self._redraw_overlay()
        self.sliceChanged.emit(index)

    def set_point(self, point_mm) -> None:
        """Move the crosshair to a patient point and show the slice through it."""
        if self.ct is None:
            return
        self._point = np.asarray(point_mm, float)
        axis = self.orientation.fixed_axis
        self.set_index(self._nearest(axis, self._point[Orientation.patient_axis(axis)]))
        self._update_crosshair()

    def point_to_index(self, point_mm) -> tuple[int, int, int] | None:
        """(k, j, i) of the voxel containing a patient point, or None outside the grid."""
        if self.ct is None:
            return None
        out = []
        for axis in range(3):
            idx = self._index_of(axis, point_mm[Orientation.patient_axis(axis)])
            if not 0 <= idx < len(self._coords[axis]):
                return None
            out.append(idx)
        return tuple(out)  # type: ignore[return-value]

    # -- drawing ---------------------------------------------------------------------
    def _index_of(self, axis: int, value: float) -> int:
        """Index along array ``axis`` of the voxel centre nearest a patient coordinate (may lie outside)."""
        c = self._coords[axis]
        step = c[1] - c[0] if len(c) > 1 else 1.0
        return int(round((value - c[0]) / step))

    def _nearest(self, axis: int, value: float) -> int:
        return int(np.clip(self._index_of(axis, value), 0, len(self._coords[axis]) - 1))

    def _rect(self) -> QtCore.QRectF:
        o = self.orientation
        cols, rows = self._coords[o.col_axis], self._coords[o.row_axis]
        dc = abs(cols[1] - cols[0]) if len(cols) > 1 else 1.0
        dr = abs(rows[1] - rows[0]) if len(rows) > 1 else 1.0
        return QtCore.QRectF(min(cols[0], cols[-1]) - dc / 2, min(rows[0], rows[-1]) - dr / 2,
                             len(cols) * dc, len(rows) * dr)

    def _slice(self, volume: np.ndarray) -> np.ndarray:
        """The current plane of a [k, j, i] array as [row, col], flipped so coordinates increase."""
        o = self.orientation
        plane = np.take(volume, self.index, axis=o.fixed_axis)
        if len(self._coords[o.row_axis]) > 1 and self._coords[o.row_axis][1] < self._coords[o.row_axis][0]:
            plane = plane[::-1, :]
        if len(self._coords[o.col_axis]) > 1 and self._coords[o.col_axis][1] < self._coords[o.col_axis][0]:
            plane = plane[:, ::-1]
        return np.ascontiguousarray(plane)

    def _redraw_ct(self) -> None:
        if self.ct is None:
            return
        self.ct_item.setImage(self._slice(self.ct.hu).astype(np.float32), autoLevels=False,
                              levels=self.settings.ct_levels)
        self.ct_item.setRect(self._rect())  # after setImage: the rect scales the current image's pixels
        for iso in [*self._isodoses, *self._contours.values()]:
            iso.setTransform(self.ct_item.transform())

    def _add_over_image(self, item: pg.GraphicsObject, z: float) -> None:
        """Lines in CT pixel coordinates, drawn over the wash (a child of the CT image would sit under it)."""
        self.box.addItem(item, ignoreBounds=True)
        item.setTransform(self.ct_item.transform())
        item.setZValue(z)

    def _redraw_overlay(self) -> None:
        s = self.settings
        if self._values is None or self._dose is None or self.ct is None:
            self.wash_item.clear()
            for iso in self._isodoses:
                iso.setVisible(False)
            return
        dose = self._slice(self._dose)
        body = self._body_slice() if s.body_only else None
        if body is not None:
            dose = np.where(body, dose, 0.0)
        if s.show_wash:
            values = self._slice(self._values)
            show = dose >= s.threshold_fraction * self._ref_gy
            if body is not None:
                show &= body
            if s.quantity in DOSE_QUANTITIES:
                show &= dose > 0
            self.wash_item.setImage(overlay_rgba(values, show, self._vmax, self._lut, s.opacity), autoLevels=False,
                                    levels=(0, 255))
            self.wash_item.setRect(self._rect())
            self.overlay_updates += 1
        else:
            self.wash_item.clear()
        levels = list(s.isodose_percent) if s.show_isodoses else []
        while len(self._isodoses) < len(levels):
            iso = IsoLine(pen=pg.mkPen("w"))
            self._add_over_image(iso, 5)
            self._isodoses.append(iso)
        for n, iso in enumerate(self._isodoses):
            if n < len(levels):
                iso.setPen(pg.mkPen(ISODOSE_COLORS[n % len(ISODOSE_COLORS)], width=1.5))
                iso.set_level(dose, levels[n] / 100 * self._ref_gy)
                iso.setVisible(True)
            else:
                iso.setVisible(False)

    def _body_slice(self) -> np.ndarray | None:
        """The EXTERNAL structure on this slice (True inside), or None if there is none on the CT grid."""
        body = next((m for m in self._masks if m.roi.roi_type.upper() == "EXTERNAL"
                     and m.fraction.shape == getattr(self.ct, "shape", None)), None)
        return None if body is None else self._slice(body.fraction) >= 0.5

    def _redraw_structures(self) -> None:
        if self.ct is None:
            return
        self._contoured = set(self.settings.visible_structures)
        names = {m.name for m in self._masks}
        for name in list(self._contours):
            if name not in names:
                self.box.removeItem(self._contours.pop(name))
        for mask in self._masks:
            iso = self._contours.get(mask.name)
            if iso is None:
                iso = IsoLine(pen=pg.mkPen(mask.roi.color_rgb, width=2))
                self._add_over_image(iso, 6)
                self._contours[mask.name] = iso
            visible = mask.name in self.settings.visible_structures
            iso.setVisible(visible)
            if visible:
                iso.set_level(self._slice(mask.fraction).astype(np.float32), 0.5)

    def _update_crosshair(self) -> None:
        o = self.orientation
        self.vline.setPos(self._point[Orientation.patient_axis(o.col_axis)])
        self.hline.setPos(self._point[Orientation.patient_axis(o.row_axis)])

    # -- mouse -----------------------------------------------------------------------
    def _scene_to_patient(self, scene_pos) -> np.ndarray | None:
        if self.ct is None or not self.box.sceneBoundingRect().contains(scene_pos):
            return None
        p = self.box.mapSceneToView(scene_pos)
        o = self.orientation
        point = self._point.copy()
        point[Orientation.patient_axis(o.col_axis)] = p.x()
        point[Orientation.patient_axis(o.row_axis)] = p.y()
        point[Orientation.patient_axis(o.fixed_axis)] = self._coords[o.fixed_axis][self.index]
        return point

    def _on_mouse_moved(self, scene_pos) -> None:
        point = self._scene_to_patient(scene_pos)
        self.hovered.emit(None if point is None else tuple(point))

    def _on_mouse_clicked(self, ev) -> None:
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        if ev.double():  # back to the patient after zooming and panning
            self.frame_body()
            return
        point = self._scene_to_patient(ev.scenePos())
        if point is not None:
            self._point = point
            self._update_crosshair()
            self.pointPicked.emit(tuple(point))

