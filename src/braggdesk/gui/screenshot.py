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


def save_svg(widget: QtWidgets.QWidget, path: str | Path) -> Path:
    """The widget as SVG: Qt widgets and pyqtgraph plots as vector paths; a 3D view's pixels as an image in it."""
    from PySide6.QtSvg import QSvgGenerator

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(widget.size())
    generator.setViewBox(QtCore.QRect(QtCore.QPoint(0, 0), widget.size()))
    generator.setTitle("braggdesk")
    painter = QtGui.QPainter(generator)
    try:
        widget.render(painter)
        for view in [widget] if isinstance(widget, View3D) else widget.findChildren(View3D):
            if view.isVisible() and not view.closed:
                top_left = view.vtk_widget.mapTo(widget, QtCore.QPoint(0, 0)) if view.vtk_widget is not widget \
                    else QtCore.QPoint()
                painter.drawImage(QtCore.QRectF(top_left.x(), top_left.y(), view.vtk_widget.width(),
                                                view.vtk_widget.height()), _qimage(view.render_image()))
    finally:
        painter.end()
    if not path.is_file() or path.stat().st_size == 0:
        raise OSError(f"{path}: could not write the SVG")
    return path


def save_picture(widget: QtWidgets.QWidget, path: str | Path) -> Path:
    """PNG or SVG, by the suffix."""
    return save_svg(widget, path) if Path(path).suffix.lower() == ".svg" else save_png(widget, path)
