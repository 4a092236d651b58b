"""PNGs of the window or of one view, with the VTK pixels in them.

``QWidget.grab()`` paints Qt widgets only; a VTK render window comes out black.
So the grab is taken first and each visible 3D view's own pixels (read back by
vtkWindowToImageFilter) are painted over it at the view's position.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ..viewers.view3d import View3D


def _qimage(rgb: np.ndarray) -> QtGui.QImage:
    h, w, _ = rgb.shape
    data = np.ascontiguousarray(rgb)
    return QtGui.QImage(data.data, w, h, 3 * w, QtGui.QImage.Format.Format_RGB888).copy()


def grab_with_vtk(widget: QtWidgets.QWidget) -> QtGui.QImage:
    image = widget.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    painter = QtGui.QPainter(image)
    try:
        views = [widget] if isinstance(widget, View3D) else widget.findChildren(View3D)
        for view in views:
            if not view.isVisible() or view.closed:
                continue
            vtk_widget = view.vtk_widget
            pixels = _qimage(view.render_image())
            top_left = vtk_widget.mapTo(widget, QtCore.QPoint(0, 0)) if vtk_widget is not widget else QtCore.QPoint()
            target = QtCore.QRectF(top_left.x(), top_left.y(), vtk_widget.width(), vtk_widget.height())
            painter.drawImage(target, pixels)
    finally:
        painter.end()
    return image


def save_png(widget: QtWidgets.QWidget, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not grab_with_vtk(widget).save(str(path), "PNG"):
        raise OSError(f"{path}: could not write the PNG")
    return path
